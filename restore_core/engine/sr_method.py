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
from restore_core.diffusion.consistency import CONSISTENCY_STEPS, ConsistencyStep
from restore_core.diffusion.operators import OPERATORS, WaveletDomainOperator
from restore_core.diffusion.samplers import make_sampler
from restore_core.diffusion.spaces import ResidualSpace
from restore_core.diffusion.residual_shift import start_residual_shift
from restore_core.diffusion.start import estimate_noise_sigma, start_from_noise, start_from_noisy_input, start_truncated
from restore_core.engine.checkpoint import load_checkpoint
from restore_core.engine.sampling import run_reverse_process
from restore_core.engine.sr_model import SRDiffusionModel, hr_size_for
from restore_core.engine.tiling import tiled_apply
from restore_core.errors import ConfigError, UsageError

Degrade = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def plain(cfg: Any) -> Any:
    """A DictConfig section as plain Python containers (for constructors and model cards)."""
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg


def build_model(cfg: DictConfig, spatial_dims: int, channels: int) -> SRDiffusionModel:
    return SRDiffusionModel(plain(cfg.model), plain(cfg.diffusion), spatial_dims, channels)


def build_consistency(
    cfg: DictConfig, scale: int, spatial_dims: int, registry: Any = None, wavelet: bool = False
) -> list[ConsistencyStep]:
    """Consistency steps named in ``cfg.consistency``: the core's (ILVR, DDNM, DDNM+, DPS)
    or one a plugin registered with ``register_sampler_steps`` (called as
    ``factory(operator=A, scale=s, spatial_dims=d, **cfg.consistency)``)."""
    section = cfg.get("consistency")
    if not section or not section.get("name"):
        return []
    name = str(section.name)
    plugin_steps = registry.entries["sampler_steps"] if registry is not None else {}
    if name not in CONSISTENCY_STEPS and name not in plugin_steps:
        known = sorted(set(CONSISTENCY_STEPS) | set(plugin_steps))
        raise ConfigError(f"unknown consistency step '{name}'; known: {', '.join(known)}")
    if int(scale) != scale:
        raise UsageError(f"consistency step '{name}' needs an integer scale, got {scale}")
    operator_name = str(section.get("operator", "average_pool"))
    if operator_name not in OPERATORS:
        raise ConfigError(f"unknown consistency operator '{operator_name}'; known: {', '.join(sorted(OPERATORS))}")
    operator = OPERATORS[operator_name](int(scale), spatial_dims)
    if wavelet:
        operator = WaveletDomainOperator(operator, spatial_dims)
    if name in plugin_steps:
        params = {k: v for k, v in plain(section).items() if k not in ("name", "operator")}
        return [plugin_steps[name].factory(operator=operator, scale=int(scale), spatial_dims=spatial_dims, **params)]
    if name == "ilvr":
        return [CONSISTENCY_STEPS[name](int(scale), spatial_dims, operator=operator)]
    if name == "ddnm+":
        return [CONSISTENCY_STEPS[name](operator, float(section.get("sigma_y", 0.0)))]
    if name == "dps":
        return [CONSISTENCY_STEPS[name](operator, float(section.get("step_size", 1.0)))]
    return [CONSISTENCY_STEPS[name](operator)]


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
        t0 = int(float(start.get("t0_fraction", 0.5)) * model.schedule.num_train_timesteps)
        estimate = model.to_target(cond.tensors["up_lr"], cond)
        x, t_start = start_truncated(estimate, t0, model.schedule, generator)
    else:
        x, t_start = start_from_noise(grid, model.schedule, generator, lr.device, lr.dtype)
    sampler.set_timesteps(min(steps, t_start + 1), device=lr.device, t_start=t_start)
    consistency = build_consistency(cfg, int(round(scale)), model.spatial_dims, registry, wavelet=model.wavelet)
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


def cascade_plan(scale: float, cfg: DictConfig) -> list[tuple[float, int]]:
    """Stages ``(scale, steps)``: one stage for a trained scale, else a chain of ×stage_scale.

    A ×8 restoration with a ×2/×4 model runs as ×2 → ×2 → ×2 (survey sec. 4.1,
    cascaded SR as in SR3), each stage at higher resolution with fewer steps
    (``cascade.steps_decay``), since later stages only add fine detail.
    """
    steps = int(cfg.sampler.steps)
    trained = [float(s) for s in cfg.train.get("scales", [scale])]
    section = cfg.get("cascade") or {}
    if float(scale) in trained or not section:
        return [(float(scale), steps)]
    stage = float(section.get("stage_scale", 2))
    count = round(math.log(scale) / math.log(stage))
    if count < 2 or abs(stage**count - scale) > 1e-6:
        raise UsageError(f"scale ×{scale} is neither a trained scale ({trained}) nor a power of the cascade stage ×{stage:g}")
    decay = float(section.get("steps_decay", 0.5))
    return [(stage, max(1, round(steps * decay**i))) for i in range(count)]


class DiffusionSRMethod:
    """Conditional diffusion SR (SR3 or SRDiff by config) with tiling and training."""

    name = "diffusion-sr"
    spatial_dims = 2

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], SRDiffusionModel] = {}

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
        path = Path(str(name)).expanduser()
        if not path.is_absolute() and not path.exists():
            path = self.checkpoint_dir() / path
        if path.suffix != ".safetensors":
            path = path.with_suffix(".safetensors")
        if not path.is_file():
            raise UsageError(f"{path}: checkpoint not found (train one with 'restore train' or set model.checkpoint)")
        return path

    def load_model(self, cfg: DictConfig, channels: int, device: str) -> SRDiffusionModel:
        """Build the network from the checkpoint's own stored config, then load its weights."""
        path = self.checkpoint_path(cfg)
        key = (str(path), device)
        if key not in self._models:
            modules, card = load_checkpoint(path, device=device)
            stored = OmegaConf.create(card.get("config", {}))
            model_cfg = stored if "model" in stored else cfg
            model = build_model(model_cfg, self.spatial_dims, int(card.get("channels", channels)))
            model.load_state_dict(modules["model"])
            self._models[key] = model.to(device).eval()
        return self._models[key]

    # -- inference --------------------------------------------------------------------
    def super_resolve(self, lr: torch.Tensor, scale: float, cfg: DictConfig, context: RunContext) -> torch.Tensor:
        """Super-resolve ``lr`` (1, C, *spatial) in model space, as a cascade when needed."""
        lr = lr.to(context.device)
        for stage, (stage_scale, steps) in enumerate(cascade_plan(scale, cfg)):
            lr = self._super_resolve_once(lr, stage_scale, cfg, context, steps, offset=1000 * stage)
        return lr

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
        from restore_core.engine.pairs import PatchPairs
        from restore_core.engine.training import TrainSettings, train_model

        if data is None:
            raise UsageError("training needs --data (a folder of high-resolution files)")
        data = Path(data)
        images = self.training_images(data, cfg)
        channels = int(images[0].shape[0])
        scales = [int(s) for s in cfg.train.scales]
        pairs = PatchPairs(
            images,
            patch=int(cfg.train.patch),
            batch_size=int(cfg.train.batch_size),
            degradations={s: self.degradation(cfg, s) for s in scales},
            seed=int(cfg.seed),
        )
        torch.manual_seed(int(cfg.seed))  # the initial weights are part of what the seed reproduces
        model = build_model(cfg, self.spatial_dims, channels)
        out = Path(output_dir) if output_dir else Path("runs") / f"{cfg.plugin}-{cfg.method}"
        settings = TrainSettings.from_config(plain(cfg.train), max_steps)
        return train_model(model, pairs, settings, out, context, self.model_card(cfg, channels, data), self.validator(cfg, context))

    def validator(self, cfg: DictConfig, context: RunContext) -> Callable[[torch.nn.Module], Mapping[str, float]] | None:
        """Scores written into the model card at the end of training (None: none)."""
        return None
