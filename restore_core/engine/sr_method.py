"""Diffusion methods: the base every trainable method composes, and conditional SR in memory.

* :class:`DiffusionMethod` holds a :class:`~restore_core.engine.loading.CheckpointLoader`
  and the defaults of the training parts (:mod:`restore_core.engine.method_training`):
  training images read with the plugin's registered readers, degradations looked
  up among the plugin's registered ones (``train.degradation``), random patches,
  the plain diffusion loss.  A plugin's method overrides only what is its own.
* :class:`DiffusionSRMethod` adds in-memory super-resolution: one
  :class:`~restore_core.engine.plan.SamplingPlan` per run, cascades for untrained
  powers of two, and the in-memory windowing back-end for large inputs.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from omegaconf import DictConfig, OmegaConf

from restore_core.context import RunContext
from restore_core.engine.loading import CheckpointLoader, LoadedModel, plain
from restore_core.engine.method_training import registered_degradation, train_method
from restore_core.engine.pairs import Degrade
from restore_core.engine.plan import SamplingPlan, run_plan
from restore_core.engine.sr_model import SRDiffusionModel, hr_size_for
from restore_core.engine.windows import window_seed
from restore_core.engine.windows.memory import tiled_apply
from restore_core.errors import InputError, UsageError
from restore_core.sample import Sample


def build_model(cfg: DictConfig, spatial_dims: int, channels: int, networks: Any = None) -> SRDiffusionModel:
    """The core's conditional SR network (SR3/SRDiff/ResShift by config); networks looked up in ``networks``."""
    return SRDiffusionModel(plain(cfg.model), plain(cfg.diffusion), spatial_dims, channels, networks)


def sample_sr(
    model: SRDiffusionModel, lr: torch.Tensor, scale: float, cfg: DictConfig, generator: torch.Generator | None, registry: Any = None
) -> torch.Tensor:
    """One window in one call: resolve ``cfg``'s plan, run it on ``lr`` (model units), clamp to [-1, 1].

    For scripts and tests; methods resolve the plan once per run instead.
    """
    plan = SamplingPlan.from_config(cfg, model.process, registry)
    plan.check_scale(scale)
    return run_plan(plan, model, lr, hr_size_for(lr, scale, model.wavelet), generator).clamp(-1.0, 1.0)


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


class DiffusionMethod:
    """A trainable diffusion method: checkpoints, and the parts of ``restore train`` with their defaults.

    Subclasses set ``name``, ``spatial_dims`` and ``checkpoint_dir`` and
    implement ``restore`` (or ``restore_file``).
    """

    name = "diffusion"
    spatial_dims = 2
    checkpoint_dir: Path = Path(".")
    #: The plugin that registers this method: its registry names the networks and sampler steps
    #: when a run's context carries none (a method object used directly, in a script or test).
    plugin: str | None = None

    def __init__(self) -> None:
        self.checkpoints = CheckpointLoader(Path(self.checkpoint_dir), self.build_model)

    def registry(self, context: RunContext | None = None) -> Any:
        """The run's registry, else the registry of :attr:`plugin` (loaded through the plugin manager)."""
        if (context is not None and context.registry is not None) or self.plugin is None:
            return context.registry if context is not None else None
        from restore_core.plugins import require_plugin

        return require_plugin(self.plugin).registry

    #: Published architectures whose checkpoints this method can run (``--weights NAME``; restore_core.published.runners).
    published_archs: tuple[str, ...] = ()

    def load(self, cfg: DictConfig, channels: int, context: RunContext) -> LoadedModel:
        """The run's model from ``model.checkpoint``, or from ``--weights``: a checkpoint file of this
        method's own network, or a registry name of a published checkpoint whose architecture the method
        runs (:attr:`published_archs`); with the config check (see :mod:`~restore_core.engine.loading`)."""
        weights = cfg.get("weights")
        if weights:
            path = Path(str(weights)).expanduser()
            if not path.is_file():
                return self.load_published(str(weights), cfg, context)
            if path.suffix != ".safetensors":
                raise UsageError(
                    f"--weights {weights}: method '{self.name}' runs its own checkpoints (.safetensors from restore train); "
                    "a published file runs after 'restore weights add NAME --file ...' as --weights NAME"
                )
            cfg = OmegaConf.merge(cfg, {"model": {"checkpoint": str(path)}})
        return self.checkpoints.load_for_run(cfg, channels, context, self.registry(context))

    def load_published(self, name: str, cfg: DictConfig, context: RunContext) -> LoadedModel:
        """A published checkpoint from the weights registry, adapted to the plan by its runner (cached)."""
        from restore_core.published.catalogue import WeightsRegistry
        from restore_core.published.runners import RUNNERS, load_runner

        registry = WeightsRegistry()
        if name not in registry.entries:
            raise UsageError(f"--weights {name}: neither a file nor a name in the weights registry (restore weights list)")
        entry = registry.get(name)
        if entry.arch not in self.published_archs or entry.arch not in RUNNERS:
            runs = ", ".join(self.published_archs) or "none"
            raise UsageError(
                f"--weights {name}: method '{self.name}' cannot run '{entry.arch}' checkpoints (it runs its own and: {runs}); "
                "unconditional priors run with the zero-shot methods (ddnm, ilvr, dps, ccdf, r2d2-zs)"
            )
        path = registry.path_of(name, progress=not context.quiet)
        key = (str(path), str(context.device))
        cache = self.__dict__.setdefault("_published", {})
        if key not in cache:
            spec = {"arch": entry.arch, "config": dict(entry.config), "diffusion": dict(entry.diffusion), "extra": entry.card()}
            model = load_runner(spec, path, registry, context.device)
            cache[key] = LoadedModel(model.to(context.device).eval(), cfg, {"weights": entry.card()}, path)
        return cache[key]

    def plan(self, cfg: DictConfig, loaded: LoadedModel, context: RunContext) -> SamplingPlan:
        """The run's sampling plan, resolved and checked once.

        A model whose chain runs in a latent space (``latent = True``: a published ResShift) has no
        pixel measurement to project onto, so a configured consistency step is switched off, with one line.
        """
        plan = SamplingPlan.from_config(cfg, loaded.model.process, self.registry(context))
        if plan.consistency is not None and getattr(loaded.model, "latent", False):
            context.log(f"restore: consistency.name={plan.consistency.name} is off: this model samples in a latent space")
            plan = dataclasses.replace(plan, consistency=None)
        return plan

    # -- training parts (restore_core.engine.method_training.TrainingParts) ------------------
    def train(self, cfg: DictConfig, context: RunContext, *, data: Any, output_dir: Any = None, max_steps: int | None = None) -> Path:
        return train_method(self, cfg, context, data=data, output_dir=output_dir, max_steps=max_steps)

    def build_model(self, cfg: DictConfig, channels: int, networks: Any = None) -> torch.nn.Module:
        """The network of this method, its parts looked up by name in ``networks`` (default: the plugin's registry)."""
        return build_model(cfg, self.spatial_dims, channels, networks if networks is not None else self.registry())

    def training_images(self, data: Path, cfg: DictConfig, context: RunContext) -> Sequence[torch.Tensor]:
        """``data`` (a file, or every file in a folder that a registered reader reads), read by the
        plugin's registered readers, as model-space tensors (:meth:`training_tensors`)."""
        registry = self.registry(context)
        data = Path(data)
        files = [data] if data.is_file() else sorted(
            p for p in data.iterdir() if p.is_file() and not p.name.startswith(".") and registry.can_read(p)
        )
        if not files:
            raise InputError(data, f"holds no training files ({', '.join(registry.extensions('readers'))})")
        tensors: list[torch.Tensor] = []
        for path in files:
            tensors.extend(self.training_tensors(registry.reader_for(path).read(path, cfg), cfg))
        return tensors

    def training_tensors(self, sample: Sample, cfg: DictConfig) -> list[torch.Tensor]:
        """The training images ``(C, *spatial)`` in model units that one read file gives (plugins override)."""
        raise NotImplementedError(f"method '{self.name}' does not say how its training files map to model units")

    def degradation(self, cfg: DictConfig, scale: int, context: RunContext) -> Degrade:
        """``train.degradation`` from the plugin's registered degradations (override for a method's own)."""
        return registered_degradation(cfg, scale, self.registry(context))

    def pair_source(self, images: Sequence[torch.Tensor], cfg: DictConfig, degradations: Mapping[int, Degrade]) -> Any:
        """The training batches (override for curricula or extra tensors); default :class:`PatchPairs`."""
        from restore_core.engine.pairs import PatchPairs

        return PatchPairs(images, patch=int(cfg.train.patch), batch_size=int(cfg.train.batch_size), degradations=degradations, seed=int(cfg.seed))

    def training_loss(self, cfg: DictConfig) -> Any:
        """A :data:`restore_core.engine.training.LossFn`, or None for the plain diffusion loss."""
        return None

    def validator(self, cfg: DictConfig, context: RunContext) -> Callable[[torch.nn.Module], Mapping[str, float]] | None:
        """Scores written into the model card at the end of training (None: none)."""
        return None

    def model_card(self, cfg: DictConfig, channels: int, data: Path) -> dict[str, Any]:
        return {
            "method": str(cfg.method),
            "plugin": str(cfg.plugin),
            "channels": channels,
            "config": plain(cfg),
            "data": {"path": str(data), "description": str(cfg.train.get("data_description", ""))},
        }


class DiffusionSRMethod(DiffusionMethod):
    """Conditional diffusion SR (SR3, SRDiff or ResShift by config) on tensors in memory."""

    name = "diffusion-sr"

    def super_resolve(self, lr: torch.Tensor, scale: float, cfg: DictConfig, context: RunContext) -> torch.Tensor:
        """Super-resolve ``lr`` (1, C, *spatial) in model units, as a cascade when needed; clamped to [-1, 1].

        The plan is resolved once, before any sampling; the cascade follows
        the scales the checkpoint was trained on (its stored ``train.scales``).
        """
        lr = lr.to(context.device)
        loaded = self.load(cfg, lr.shape[1], context)
        plan = self.plan(cfg, loaded, context)
        stages = cascade_plan(scale, cfg, loaded.trained_scales(cfg))
        for stage_scale, _ in stages:
            plan.check_scale(stage_scale)
        for stage, (stage_scale, steps) in enumerate(stages):
            lr = self.sample_in_windows(loaded.model, plan.with_steps(steps), lr, stage_scale, cfg, context, offset=1000 * stage)
        return lr

    def sample_in_windows(
        self, model: SRDiffusionModel, plan: SamplingPlan, lr: torch.Tensor, scale: float, cfg: DictConfig, context: RunContext, offset: int = 0
    ) -> torch.Tensor:
        """Run ``plan`` on every window of ``lr`` (one window if it fits) with the in-memory back-end."""
        tile = int(cfg.tiling.tile)

        def run(window: torch.Tensor, generator: torch.Generator, progress: Any = None) -> torch.Tensor:
            return run_plan(plan, model, window, hr_size_for(window, scale, model.wavelet), generator, progress=progress).clamp(-1.0, 1.0)

        if all(s <= tile for s in lr.shape[2:]):
            progress = None if context.quiet else (lambda it, n: context.progress(it, n, "sampling"))
            return run(lr, context.generator(offset=offset), progress)

        def run_window(window: torch.Tensor, origins: list[tuple[int, ...]]) -> torch.Tensor:
            # noise seeded by the window's position (a batch by its first window's), not by the order windows run
            seed = window_seed(int(context.seed) + offset, origins[0])
            return run(window, torch.Generator(device=context.device).manual_seed(seed))

        return tiled_apply(
            run_window, lr, tile=tile, overlap=float(cfg.tiling.overlap), scale=scale, sigma_scale=float(cfg.tiling.sigma_scale),
            batch_size=int(cfg.tiling.batch_size), progress=not context.quiet, with_origins=True,
        )


__all__ = ["DiffusionMethod", "DiffusionSRMethod", "build_model", "cascade_plan", "plain", "sample_sr"]
