"""A restoration method built on :class:`SRDiffusionModel`: load, sample, tile, train.

Plugins subclass :class:`DiffusionSRMethod` and supply what is domain
knowledge: how a :class:`Sample` maps to model space and back, where the
shipped checkpoints live, how training images are read, and the degradation
model that synthesises LR from HR.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from omegaconf import DictConfig, OmegaConf

from restore_core.context import RunContext
from restore_core.diffusion.colour import match_mean_std
from restore_core.diffusion.operators import OPERATORS
from restore_core.diffusion.samplers import make_sampler
from restore_core.diffusion.spaces import ResidualSpace
from restore_core.diffusion.residual_shift import start_residual_shift
from restore_core.diffusion.start import estimate_noise_sigma, start_from_noise, start_from_noisy_input, start_truncated
from restore_core.engine.checkpoint import load_checkpoint
from restore_core.engine.sampling import build_consistency, check_sampling_config, run_reverse_process
from restore_core.engine.sr_model import SRDiffusionModel, hr_size_for
from restore_core.engine.tiling import tiled_apply
from restore_core.errors import ConfigError, InputError, RestoreError, UsageError

Degrade = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def plain(cfg: Any) -> Any:
    """A DictConfig section as plain Python containers (for constructors and model cards)."""
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg


def build_model(cfg: DictConfig, spatial_dims: int, channels: int) -> SRDiffusionModel:
    return SRDiffusionModel(plain(cfg.model), plain(cfg.diffusion), spatial_dims, channels)


def sample_sr(
    model: SRDiffusionModel,
    lr: torch.Tensor,
    scale: float,
    cfg: DictConfig,
    generator: torch.Generator,
    progress: Any = None,
    steps: int | None = None,
    registry: Any = None,
) -> torch.Tensor:
    """Super-resolve ``lr`` (B, C, *spatial) in model space [-1, 1] by reverse diffusion.

    ``steps`` overrides ``cfg.sampler.steps`` (cascade stages use fewer).
    """
    check_sampling_config(cfg, model.process)
    hr_size = hr_size_for(lr, scale, model.wavelet)
    with torch.no_grad():
        cond = model.condition(lr, hr_size)
    sampler_cfg = cfg.sampler
    kwargs: dict[str, Any] = {"prediction_type": model.prediction_type}
    name = "residual_shift" if model.process == "residual_shift" else str(sampler_cfg.name)
    if name == "ddim":
        kwargs["eta"] = float(sampler_cfg.eta)
    sampler = make_sampler(name, model.schedule, **kwargs)
    start = cfg.get("start") or {}
    grid = (lr.shape[0], model.denoiser.target_channels, *model.target_grid(hr_size))
    steps = int(steps or sampler_cfg.steps)
    if model.process == "residual_shift":  # the chain starts at y0 = up(LR) plus noise
        x, t_start = start_residual_shift(model.shift_origin(cond), model.schedule, generator)  # type: ignore[arg-type]
        steps = min(steps, model.schedule.num_train_timesteps)
    elif start.get("mode", "noise") == "noisy_input":
        # R2D2+ (Chung et al. 2023): start from the input itself at its own noise level
        estimate = model.to_target(cond.tensors["up_lr"], cond)
        sigma = float(start.get("sigma") or estimate_noise_sigma(cond.tensors["up_lr"], model.spatial_dims).max())
        x, t_start = start_from_noisy_input(estimate, sigma, model.schedule, generator)
    elif start.get("mode", "noise") == "truncated":
        train_steps = model.schedule.num_train_timesteps
        t0 = min(int(float(start.get("t0_fraction", 0.5)) * train_steps), train_steps - 1)
        estimate = model.to_target(cond.tensors["up_lr"], cond)
        x, t_start = start_truncated(estimate, t0, model.schedule, generator)
    else:
        x, t_start = start_from_noise(grid, model.schedule, generator, lr.device, lr.dtype)
    sampler.set_timesteps(min(steps, t_start + 1), device=lr.device, t_start=t_start)
    consistency = build_consistency(cfg, scale, model.spatial_dims, registry, wavelet=model.wavelet)
    measurement = None
    if consistency:
        # A is linear: when the target is the residual HR - up(LR), its measurement is y - A(up(LR)).
        pixel_operator = OPERATORS[str(cfg.consistency.get("operator", "average_pool"))](int(round(scale)), model.spatial_dims)
        residual = isinstance(getattr(model.space, "inner", model.space), ResidualSpace)
        measurement = lr - pixel_operator.A(cond.tensors["up_lr"]) if residual else lr
    guidance = cfg.get("guidance") or {}
    x0 = run_reverse_process(
        model.denoise,
        x,
        sampler,
        cond=cond,
        guidance_scale=float(guidance.get("scale", 1.0)),
        consistency=consistency,
        measurement=measurement,
        generator=generator,
        progress=progress,
    )
    hr = model.from_target(x0, cond)
    if cfg.get("colour_correction", False):
        hr = match_mean_std(hr, lr)  # survey eq. 47
    return hr.clamp(-1.0, 1.0)


def cascade_plan(scale: float, cfg: DictConfig, trained_scales: Sequence[float] | None = None) -> list[tuple[float, int]]:
    """Stages ``(scale, steps)``: one stage for a trained scale, else a chain of ×stage_scale.

    A ×8 restoration with a ×2/×4 model runs as ×2 → ×2 → ×2 (survey sec. 4.1,
    cascaded SR as in SR3), each stage at higher resolution with fewer steps
    (``cascade.steps_decay``), since later stages only add fine detail.
    ``trained_scales`` are the scales the loaded model was trained on (its
    card's ``train.scales``); without them, ``cfg.train.scales``.
    """
    steps = int(cfg.sampler.steps)
    if trained_scales is None:
        trained_scales = (cfg.get("train") or {}).get("scales", [scale])
    trained = [float(s) for s in trained_scales]
    section = cfg.get("cascade") or {}
    if float(scale) in trained or not section:
        return [(float(scale), steps)]
    stage = float(section.get("stage_scale", 2))
    count = round(math.log(scale) / math.log(stage))
    if count < 2 or abs(stage**count - scale) > 1e-6:
        raise UsageError(f"scale ×{scale} is neither a trained scale ({trained}) nor a power of the cascade stage ×{stage:g}")
    decay = float(section.get("steps_decay", 0.5))
    return [(stage, max(1, round(steps * decay**i))) for i in range(count)]


RUNTIME_MODEL_KEYS = ("model.checkpoint", "model.any_scale")  # not part of the architecture


def _flat(section: Any, prefix: str) -> dict[str, Any]:
    if not isinstance(section, dict):
        return {prefix: section}
    flat: dict[str, Any] = {}
    for key, value in section.items():
        flat.update(_flat(value, f"{prefix}.{key}"))
    return flat


def architecture_differences(cfg: DictConfig, stored: DictConfig) -> list[str]:
    """Dotted ``model.*``/``diffusion.*`` keys whose value differs from the checkpoint's stored config."""
    ours = {**_flat(plain(cfg.get("model")), "model"), **_flat(plain(cfg.get("diffusion")), "diffusion")}
    theirs = {**_flat(plain(stored.get("model")), "model"), **_flat(plain(stored.get("diffusion")), "diffusion")}
    keys = sorted(k for k in set(ours) | set(theirs) if k not in RUNTIME_MODEL_KEYS)
    return [k for k in keys if ours.get(k) != theirs.get(k)]


class DiffusionSRMethod:
    """Conditional diffusion SR (SR3 or SRDiff by config) with tiling and training."""

    name = "diffusion-sr"
    spatial_dims = 2

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], tuple[SRDiffusionModel, DictConfig]] = {}
        self._warned: set[int] = set()

    # -- what a plugin supplies -------------------------------------------------
    def checkpoint_dir(self) -> Path:
        raise NotImplementedError

    def degradation(self, cfg: DictConfig, scale: int) -> Degrade:
        raise NotImplementedError

    def training_images(self, data: Path, cfg: DictConfig) -> Sequence[torch.Tensor]:
        raise NotImplementedError

    # -- checkpoints ---------------------------------------------------------------
    def checkpoint_path(self, cfg: DictConfig) -> Path:
        name = cfg.model.get("checkpoint")
        if not name:
            raise UsageError(f"method '{cfg.method}' has no checkpoint configured (model.checkpoint)")
        return self.resolve_checkpoint(str(name))

    def resolve_checkpoint(self, name: str, key: str = "model.checkpoint") -> Path:
        """A shipped checkpoint's name (``checkpoints/<name>.safetensors``) or a path, as an existing file."""
        path = Path(str(name)).expanduser()
        if not path.is_absolute() and not path.exists():
            path = self.checkpoint_dir() / path
        if path.suffix != ".safetensors":
            path = path.with_suffix(".safetensors")
        if not path.is_file():
            raise UsageError(f"{path}: checkpoint not found (train one with 'restore train' or set {key})")
        return path

    def load_model(self, cfg: DictConfig, channels: int, device: str) -> SRDiffusionModel:
        """Build the network from the checkpoint's own stored config, then load its weights."""
        return self._load(cfg, channels, device)[0]

    def _load(self, cfg: DictConfig, channels: int, device: str) -> tuple[SRDiffusionModel, DictConfig]:
        """The model and the config it was built from (the card's stored config, else ``cfg``)."""
        path = self.checkpoint_path(cfg)
        key = (str(path), device)
        if key not in self._models:
            modules, card = load_checkpoint(path, device=device)
            stored = OmegaConf.create(card.get("config", {}))
            model_cfg = stored if "model" in stored else cfg
            model = self.build_model(model_cfg, int(card.get("channels", channels)))
            model.load_state_dict(modules["model"])
            self._models[key] = (model.to(device).eval(), model_cfg)
        return self._models[key]

    # -- inference --------------------------------------------------------------------
    def super_resolve(self, lr: torch.Tensor, scale: float, cfg: DictConfig, context: RunContext) -> torch.Tensor:
        """Super-resolve ``lr`` (1, C, *spatial) in model space, as a cascade when needed.

        The config is checked once, before any sampling; the cascade follows
        the scales the checkpoint was trained on (its stored ``train.scales``).
        """
        lr = lr.to(context.device)
        model, stored = self._load(cfg, lr.shape[1], context.device)
        self._warn_if_architecture_differs(cfg, stored, context)
        check_sampling_config(cfg, model.process)
        plan = cascade_plan(scale, cfg, (stored.get("train") or cfg.train).get("scales", [scale]))
        for stage_scale, _ in plan:
            build_consistency(cfg, stage_scale, model.spatial_dims, context.registry, wavelet=model.wavelet)
        for stage, (stage_scale, steps) in enumerate(plan):
            lr = self._super_resolve_once(lr, stage_scale, cfg, context, steps, offset=1000 * stage)
        return lr

    def _warn_if_architecture_differs(self, cfg: DictConfig, stored: DictConfig, context: RunContext) -> None:
        """One warning line (once per checkpoint) when model.*/diffusion.* differ from the checkpoint's."""
        if stored is cfg or id(stored) in self._warned:  # stored configs are cached with their model
            return
        self._warned.add(id(stored))
        differing = architecture_differences(cfg, stored)
        if differing:
            shown = ", ".join(differing[:4]) + (f" (+{len(differing) - 4} more)" if len(differing) > 4 else "")
            context.log(f"restore: warning: {shown} differ from the checkpoint's stored config; the checkpoint's architecture is used")

    def _super_resolve_once(self, lr: torch.Tensor, scale: float, cfg: DictConfig, context: RunContext, steps: int, offset: int) -> torch.Tensor:
        """Tile ``lr`` and super-resolve every window (one window if it fits)."""
        model = self.load_model(cfg, lr.shape[1], context.device)
        tile = int(cfg.tiling.tile)
        counter = iter(range(offset, offset + 1_000_000))

        def one_window(window: torch.Tensor) -> torch.Tensor:
            return sample_sr(model, window, scale, cfg, context.generator(offset=next(counter)), steps=steps, registry=context.registry)

        if all(s <= tile for s in lr.shape[2:]):
            progress = None if context.quiet else (lambda it, n: context.progress(it, n, "sampling"))
            return sample_sr(model, lr, scale, cfg, context.generator(offset=offset), progress=progress, steps=steps, registry=context.registry)
        return tiled_apply(
            one_window, lr, tile=tile, overlap=float(cfg.tiling.overlap), scale=scale,
            batch_size=int(cfg.tiling.batch_size), progress=not context.quiet,
        )

    # -- training --------------------------------------------------------------------
    def model_card(self, cfg: DictConfig, channels: int, data: Path) -> dict[str, Any]:
        return {
            "method": str(cfg.method),
            "plugin": str(cfg.plugin),
            "channels": channels,
            "config": plain(cfg),
            "data": {"path": str(data), "description": str(cfg.train.get("data_description", ""))},
        }

    def train(self, cfg: DictConfig, context: RunContext, *, data: Any, output_dir: Any = None, max_steps: int | None = None) -> Path:
        from restore_core.engine.pairs import TrainingDataError
        from restore_core.engine.training import TrainSettings, freeze_except, train_model

        if data is None:
            raise UsageError("training needs --data (a folder of high-resolution files)")
        data = Path(data)
        images = self._read_training_images(data, cfg)
        channels = int(images[0].shape[0])
        degradations = {int(s): self.degradation(cfg, int(s)) for s in cfg.train.scales}
        try:
            pairs = self.pair_source(images, cfg, degradations)
        except TrainingDataError as exc:
            raise InputError(data, str(exc)) from None
        except ValueError as exc:
            raise ConfigError(f"train: {exc}") from None
        torch.manual_seed(int(cfg.seed))  # the initial weights are part of what the seed reproduces
        model = self.build_model(cfg, channels)
        out = Path(output_dir) if output_dir else Path("runs") / f"{cfg.plugin}-{cfg.method}"
        settings = TrainSettings.from_config(plain(cfg.train), max_steps)
        card = self.model_card(cfg, channels, data)
        resuming = (out / "last.safetensors").is_file() and (out / "training_state.safetensors").is_file()
        if cfg.train.get("init"):  # when resuming, the run's own last weights replace the init anyway
            card["init"] = load_checkpoint(out / "last.safetensors")[1].get("init") if resuming else self.initialise(model, cfg)
        if settings.trainable:
            try:
                freeze_except(model, settings.trainable)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        return train_model(model, pairs, settings, out, context, card, self.validator(cfg, context), self.training_loss(cfg))

    def initialise(self, model: torch.nn.Module, cfg: DictConfig) -> dict[str, Any]:
        """Load ``train.init`` (a checkpoint name or path) into ``model`` before training: fine-tuning.

        The checkpoint must come from the same network: same ``model.*`` and
        ``diffusion.*`` settings (not only the same tensor shapes: a change of
        prediction target or schedule has none) and the same weights.  Returns
        the init's provenance for the new model card: path, sha256, steps,
        training seconds and its own config.
        """
        path = self.resolve_checkpoint(str(cfg.train.init), key="train.init")
        modules, init_card = load_checkpoint(path, device="cpu")
        stored = OmegaConf.create(init_card.get("config") or {})
        differences = architecture_differences(cfg, stored) if "model" in stored else []
        if differences:
            theirs = OmegaConf.select(stored, differences[0])
            raise ConfigError(
                f"train.init: {path} was trained with {differences[0]}={theirs!r}, this run has "
                f"{OmegaConf.select(cfg, differences[0])!r} (set it to match, or train from scratch)"
            )
        state = {k: v.float() if v.is_floating_point() else v for k, v in modules["model"].items()}
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            first = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), str(exc))
            raise ConfigError(f"train.init: {path} does not fit this method's network ({first})") from None
        return {
            "path": str(path), "sha256": init_card.get("sha256"), "steps": init_card.get("steps"),
            "train_seconds": init_card.get("train_seconds"), "config": init_card.get("config"),
        }

    def build_model(self, cfg: DictConfig, channels: int) -> torch.nn.Module:
        """The network of this method (override for architectures beyond :class:`SRDiffusionModel`)."""
        return build_model(cfg, self.spatial_dims, channels)

    def pair_source(self, images: Sequence[torch.Tensor], cfg: DictConfig, degradations: Mapping[int, Degrade]) -> Any:
        """The training batches (override for curricula or extra tensors); default :class:`PatchPairs`."""
        from restore_core.engine.pairs import PatchPairs

        return PatchPairs(images, patch=int(cfg.train.patch), batch_size=int(cfg.train.batch_size), degradations=degradations, seed=int(cfg.seed))

    def training_loss(self, cfg: DictConfig) -> Any:
        """A :data:`restore_core.engine.training.LossFn`, or None for the plain diffusion loss."""
        return None

    def _read_training_images(self, data: Path, cfg: DictConfig) -> list[torch.Tensor]:
        """The plugin's ``training_images``; any failure becomes one InputError naming ``data``."""
        if not data.exists():
            raise InputError(data, "no such file or directory")
        try:
            images = list(self.training_images(data, cfg))
        except RestoreError:
            raise
        except Exception as exc:
            raise InputError(data, f"cannot read the training images ({type(exc).__name__}: {' '.join(str(exc).split())})") from None
        if not images:
            raise InputError(data, "holds no training images")
        channels = sorted({int(im.shape[0]) for im in images})
        if len(channels) > 1:
            raise InputError(data, f"training images have different channel counts {channels}")
        return images

    def validator(self, cfg: DictConfig, context: RunContext) -> Callable[[torch.nn.Module], Mapping[str, float]] | None:
        """Scores written into the model card at the end of training (None: none)."""
        return None
