"""The sampling plan: everything a reverse diffusion needs, resolved once from the config.

Every method samples through :func:`run_plan`; none builds a sampler, a
start or a consistency step of its own.  A run resolves its plan once
(:meth:`SamplingPlan.from_config`, which also validates the config and
refuses, in one line, what the loop cannot run); then each window, slice or
cascade stage calls :func:`run_plan` with the plan, the model, its input and
what only the method knows:

* the **measurement operator** ``A`` of the consistency step (the core's
  ×s average pooling or bicubic by ``consistency.operator``; a plugin's own,
  e.g. a plugin's own Fourier-domain truncation, given as ``operator=``);
* the **start image** of a truncated or noisy-input start (default up(LR));
  R2D2+ passes its zero-filled input and its noise level;
* per-run parameters of a plugin's consistency step (``step_params``), e.g.
  the k-space weight R2D2+ picks from the estimated noise level.

Starts (``start.mode``): ``noise`` (Ho et al. 2020, Alg. 2), ``truncated``
(CCDF, Chung et al. 2022: forward-diffused estimate at t0), ``noisy_input``
(R2D2+, Chung et al. 2023: the input at its own noise level), and the
residual-shifting chain's prior (ResShift, Yue et al. 2023, sec. 2.2), which
a model with ``diffusion.process: residual_shift`` always uses.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from omegaconf import DictConfig, OmegaConf

from restore_core.diffusion.colour import match_mean_std
from restore_core.diffusion.consistency import CONSISTENCY_STEPS, DDNMPlus, DPS, ILVR, ConsistencyStep
from restore_core.diffusion.operators import OPERATORS, LinearOperator, WaveletDomainOperator
from restore_core.diffusion.residual_shift import start_residual_shift
from restore_core.diffusion.samplers import make_sampler
from restore_core.diffusion.samplers.base import Sampler
from restore_core.diffusion.spaces import ResidualSpace
from restore_core.diffusion.start import estimate_noise_sigma, start_from_noise, start_from_noisy_input, start_truncated
from restore_core.engine.sampling import Condition, Progress, run_reverse_process
from restore_core.errors import ConfigError, UsageError

#: How sampling may start (``start.mode``) and the samplers of Gaussian chains (``sampler.name``);
#: a residual-shifting chain runs its own sampler (``sampler.name: residual_shift``) from its own prior.
START_MODES = ("noise", "noisy_input", "truncated")
GAUSSIAN_SAMPLERS = ("ddim", "ddpm", "dpm_solver++", "iddpm")
#: Consistency steps that re-noise with the Gaussian alpha_bar(t), which residual-shifting chains lack.
NEEDS_ALPHA_BAR = {"ilvr": ILVR, "ddnm+": DDNMPlus, "dps": DPS}
#: Keys of ``consistency`` that are not parameters of the step itself.
_CONSISTENCY_KEYS = ("name", "operator", "operator_params")


def _plain(section: Any) -> dict[str, Any]:
    if section is None:
        return {}
    return dict(OmegaConf.to_container(section, resolve=True)) if isinstance(section, DictConfig) else dict(section)


@dataclass(frozen=True)
class ConsistencyPlan:
    """A consistency step by name, its default operator's name and its parameters.

    ``factory`` is the plugin's registered factory (``register_sampler_steps``),
    None for the core's ILVR / DDNM / DDNM+ / DPS.
    """

    name: str
    operator: str
    params: Mapping[str, Any]
    factory: Any = None
    operator_params: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def steps(
        self, operator: LinearOperator, scale: float, spatial_dims: int, step_params: Mapping[str, Any] | None = None
    ) -> list[ConsistencyStep]:
        """The step objects for one sampling run (cheap: no checks, no hook calls)."""
        params = {**self.params, **(step_params or {})}
        if self.factory is not None:
            return [self.factory(operator=operator, scale=scale, spatial_dims=spatial_dims, **params)]
        if self.name == "ilvr":
            return [ILVR(int(scale), spatial_dims, operator=operator)]
        if self.name == "ddnm+":
            return [DDNMPlus(operator, float(params.get("sigma_y", 0.0)))]
        if self.name == "dps":
            return [DPS(operator, float(params.get("step_size", 1.0)))]
        return [CONSISTENCY_STEPS[self.name](operator)]


@dataclass(frozen=True)
class SamplingPlan:
    """A validated description of one reverse diffusion (see the module docstring)."""

    sampler: str
    steps: int
    eta: float = 0.0
    clip_sample: float | None = None
    start: str = "noise"
    t0_fraction: float = 0.5
    sigma: float | None = None
    guidance_scale: float = 1.0
    consistency: ConsistencyPlan | None = None
    colour_correction: bool = False
    process: str = "gaussian"

    @classmethod
    def from_config(cls, cfg: DictConfig, process: str = "gaussian", registry: Any = None) -> "SamplingPlan":
        """Read and check ``sampler``, ``start``, ``guidance``, ``consistency``, ``colour_correction``.

        ``process`` is the loaded model's ``gaussian`` or ``residual_shift``;
        ``registry`` holds the plugin's sampler steps.  Every refusal is one
        :class:`ConfigError` line, raised before any window runs.
        """
        sampler = cfg.get("sampler") or {}
        name = str(sampler.get("name", "ddim"))
        if name not in (*GAUSSIAN_SAMPLERS, "residual_shift"):
            raise ConfigError(f"unknown sampler.name '{name}'; known: {', '.join(GAUSSIAN_SAMPLERS)}, residual_shift")
        if name == "residual_shift" and process != "residual_shift":
            raise ConfigError(
                f"sampler.name=residual_shift needs a residual-shifting model (diffusion.process: residual_shift); "
                f"this one is {process}: use ddim, ddpm or dpm_solver++"
            )  # the other way round the name is moot: a residual-shifting chain always runs its own sampler
        steps = int(sampler.get("steps", 50))
        if steps < 1:
            raise ConfigError(f"sampler.steps must be at least 1, got {sampler.get('steps')}")
        clip = sampler.get("clip_sample")
        if clip is not None and float(clip) <= 0:
            raise ConfigError(f"sampler.clip_sample must be positive or null, got {clip}")
        start = cfg.get("start") or {}
        mode = str(start.get("mode", "noise"))
        if mode not in START_MODES:
            raise ConfigError(f"unknown start.mode '{mode}'; known: {', '.join(START_MODES)}")
        fraction = float(start.get("t0_fraction", 0.5))
        if not 0.0 < fraction <= 1.0:
            raise ConfigError(f"start.t0_fraction must lie in (0, 1], got {start.get('t0_fraction')}")
        sigma = start.get("sigma")
        if sigma is not None and float(sigma) < 0:
            raise ConfigError(f"start.sigma must be >= 0 or null, got {sigma}")
        if process not in ("gaussian", "residual_shift"):
            raise ConfigError(f"unknown diffusion.process '{process}'; choose gaussian or residual_shift")
        return cls(
            sampler="residual_shift" if process == "residual_shift" else name,
            steps=steps,
            eta=float(sampler.get("eta", 0.0)),
            clip_sample=float(clip) if clip is not None else None,
            start="residual_shift" if process == "residual_shift" else mode,
            t0_fraction=fraction,
            sigma=float(sigma) if sigma is not None else None,
            guidance_scale=float((cfg.get("guidance") or {}).get("scale", 1.0)),
            consistency=_consistency_plan(cfg.get("consistency"), process, registry),
            colour_correction=bool(cfg.get("colour_correction", False)),
            process=process,
        )

    def with_steps(self, steps: int) -> "SamplingPlan":
        """The same plan with ``steps`` sampler steps (later cascade stages run fewer)."""
        return dataclasses.replace(self, steps=max(1, int(steps)))

    def check_scale(self, scale: float, spatial_dims: int = 2) -> None:
        """Refuse, before any window, a scale the core's consistency operator cannot measure: a
        non-integer one (they pool whole pixels), or one the operator does not take (a blur or
        denoising keeps the grid: scale 1)."""
        if self.consistency is None or self.consistency.factory is not None:
            return
        if int(scale) != scale:
            raise UsageError(f"consistency step '{self.consistency.name}' needs an integer scale, got {scale:g}")
        try:
            OPERATORS[self.consistency.operator](int(scale), spatial_dims, **self.consistency.operator_params)
        except ValueError as exc:
            raise UsageError(f"consistency.operator={self.consistency.operator} at scale {scale:g}: {exc}") from None

    def make_sampler(self, schedule: Any, prediction_type: str) -> Sampler:
        """The sampler, built from its config section in one place."""
        kwargs: dict[str, Any] = {"prediction_type": prediction_type, "clip_sample": self.clip_sample}
        if self.sampler == "ddim":
            kwargs["eta"] = self.eta
        return make_sampler(self.sampler, schedule, **kwargs)


def _consistency_plan(section: Any, process: str, registry: Any) -> ConsistencyPlan | None:
    values = _plain(section)
    name = values.get("name")
    if not name:
        return None
    name = str(name)
    plugin_steps = registry.entries["sampler_steps"] if registry is not None else {}
    if name not in CONSISTENCY_STEPS and name not in plugin_steps:
        known = sorted(set(CONSISTENCY_STEPS) | set(plugin_steps))
        raise ConfigError(f"unknown consistency step '{name}'; known: {', '.join(known)}")
    operator = str(values.get("operator") or "average_pool")
    if operator not in OPERATORS:
        raise ConfigError(f"unknown consistency operator '{operator}'; known: {', '.join(sorted(OPERATORS))}")
    if process == "residual_shift" and name in NEEDS_ALPHA_BAR:
        raise ConfigError(
            f"consistency.name={name} needs a Gaussian noise schedule (alpha_bar), but this model "
            "runs a residual-shifting chain (diffusion.process: residual_shift); use consistency.name=ddnm or null"
        )
    params = {k: v for k, v in values.items() if k not in _CONSISTENCY_KEYS}
    factory = plugin_steps[name].factory if name in plugin_steps else None
    operator_params = dict(values.get("operator_params") or {})
    try:  # built once here, so a bad operator parameter is a config error before any window
        OPERATORS[operator](1 if operator in ("gaussian_blur", "identity") else 2, 2, **operator_params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"consistency.operator_params do not fit operator '{operator}': {exc}") from None
    return ConsistencyPlan(name, operator, params, factory, operator_params)


_OPERATORS: dict[tuple, LinearOperator] = {}


def core_operator(consistency: ConsistencyPlan, scale: int, spatial_dims: int) -> LinearOperator:
    """The core's operator of ``consistency``, built once per (name, scale, dims, params) and reused by every
    window: operators cache their matrices (bicubic and blur pseudo-inverses), which per window would be redone."""
    params = dict(consistency.operator_params)
    try:
        key: tuple = (consistency.operator, scale, spatial_dims, tuple(sorted(params.items())))
        hash(key)
    except TypeError:  # unhashable parameter values: build it afresh
        return OPERATORS[consistency.operator](scale, spatial_dims, **params)
    if key not in _OPERATORS:
        _OPERATORS[key] = OPERATORS[consistency.operator](scale, spatial_dims, **params)
    return _OPERATORS[key]


def run_plan(
    plan: SamplingPlan,
    model: Any,
    lr: torch.Tensor,
    hr_size: tuple[int, ...],
    generator: torch.Generator | None,
    *,
    cond: Condition | None = None,
    operator: LinearOperator | None = None,
    start_image: torch.Tensor | None = None,
    sigma: float | None = None,
    step_params: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Run ``plan`` for ``lr`` (B, C, *spatial, model units) and return the HR image (B, C, *hr_size).

    ``model`` is an :class:`~restore_core.engine.sr_model.SRDiffusionModel`
    (or anything with its ``schedule``, ``prediction_type``, ``condition``,
    ``denoise``, ``to_target``/``from_target``, ``target_grid``,
    ``shift_origin``, ``target_channels``, ``spatial_dims`` and ``wavelet``).
    ``cond`` overrides ``model.condition(lr, hr_size)`` (a method with more
    inputs, such as a reference contrast, builds its own).  Not clamped:
    range policy is the method's.
    """
    if cond is None:
        with torch.no_grad():
            cond = model.condition(lr, hr_size)
    up_lr = cond.tensors["up_lr"]
    sampler = plan.make_sampler(model.schedule, model.prediction_type)
    if plan.sampler == "iddpm":  # iDDPM's learned variance: the prior records its last output's v
        if not getattr(model, "learn_sigma", False):
            raise ConfigError("sampler.name=iddpm needs a prior with learned variance (diffusion.learn_sigma); use ddpm or ddim")
        sampler.variance_source = lambda: model.last_variance_values  # type: ignore[attr-defined]
    steps = plan.steps
    if plan.start == "residual_shift":  # the chain starts at its prior y0 = up(LR) + kappa sqrt(eta_T) noise
        x, t_start = start_residual_shift(model.shift_origin(cond), model.schedule, generator)
        steps = min(steps, model.schedule.num_train_timesteps)
    elif plan.start == "noisy_input":
        image = up_lr if start_image is None else start_image
        level = sigma if sigma is not None else plan.sigma
        if level is None:
            level = float(estimate_noise_sigma(up_lr, model.spatial_dims).max())
        x, t_start = start_from_noisy_input(model.to_target(image, cond), float(level), model.schedule, generator)
    elif plan.start == "truncated":
        train_steps = model.schedule.num_train_timesteps
        t0 = min(int(plan.t0_fraction * train_steps), train_steps - 1)
        image = up_lr if start_image is None else start_image
        x, t_start = start_truncated(model.to_target(image, cond), t0, model.schedule, generator)
    else:
        grid = (lr.shape[0], model.target_channels, *model.target_grid(hr_size))
        x, t_start = start_from_noise(grid, model.schedule, generator, lr.device, lr.dtype)
    sampler.set_timesteps(min(steps, t_start + 1), device=lr.device, t_start=t_start)
    consistency: list[ConsistencyStep] = []
    measurement = None
    if plan.consistency is not None:
        scale = hr_size[-1] / lr.shape[-1]
        if operator is None:
            operator = core_operator(plan.consistency, int(round(scale)), model.spatial_dims)
        # A is linear: when the target is the residual (HR - up(LR)) * s, its measurement is (y - A(up(LR))) * s.
        space = getattr(model.space, "inner", model.space)
        residual = isinstance(space, ResidualSpace)
        measurement = (lr - operator.A(up_lr)) * float(getattr(space, "scale", 1.0)) if residual else lr
        in_target_domain = WaveletDomainOperator(operator, model.spatial_dims) if model.wavelet else operator
        consistency = plan.consistency.steps(in_target_domain, round(scale, 6), model.spatial_dims, step_params)
        consistency = [step for step in consistency if step is not None]
    x0 = run_reverse_process(
        model.denoise, x, sampler, cond=cond, guidance_scale=plan.guidance_scale,
        consistency=consistency, measurement=measurement if consistency else None,
        generator=generator, progress=progress,
    )
    hr = model.from_target(x0, cond)
    if plan.colour_correction:
        hr = match_mean_std(hr, lr)  # survey eq. 47
    return hr
