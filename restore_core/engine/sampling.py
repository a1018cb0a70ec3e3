"""The reverse-diffusion loop: one denoiser call (or one batched CFG pair) per step.

Everything the loop needs is resolved before it starts (sampler, consistency
steps, guidance scale); the loop itself never inspects which sampler or which
method it runs, and calls no plugin hook.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
from omegaconf import DictConfig, OmegaConf

from restore_core.diffusion.consistency import CONSISTENCY_STEPS, DDNMPlus, DPS, ILVR, ConsistencyStep
from restore_core.diffusion.guidance import classifier_free_guidance
from restore_core.diffusion.operators import OPERATORS, WaveletDomainOperator
from restore_core.diffusion.parameterization import model_output_from_x0, predict_x0_and_eps
from restore_core.diffusion.samplers.base import Sampler
from restore_core.errors import ConfigError, UsageError

#: How sampling may start (``start.mode``) and the samplers of Gaussian chains (``sampler.name``);
#: a residual-shifting chain always runs its own sampler.
START_MODES = ("noise", "noisy_input", "truncated")
GAUSSIAN_SAMPLERS = ("ddim", "ddpm", "dpm_solver++")
#: Consistency steps that re-noise with the Gaussian alpha_bar(t), which residual-shifting chains lack.
NEEDS_ALPHA_BAR = {"ilvr": ILVR, "ddnm+": DDNMPlus, "dps": DPS}

# denoise(x_t, t_batch, cond) -> model output; cond None means "unconditional".
Denoise = Callable[[torch.Tensor, torch.Tensor, "Condition | None"], torch.Tensor]
Progress = Callable[[Iterable[int], int], Iterator[int]]


@dataclass
class Condition:
    """What the denoiser is conditioned on: tensors batched along dim 0."""

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)

    def cat(self, other: "Condition") -> "Condition":
        return Condition({k: torch.cat([v, other.tensors[k]]) for k, v in self.tensors.items()})

    def null(self) -> "Condition":
        """The dropped condition of classifier-free guidance: zeros (as in training)."""
        return Condition({k: torch.zeros_like(v) for k, v in self.tensors.items()})


def check_sampling_config(cfg: DictConfig, process: str) -> None:
    """Refuse, before any sampling, settings the loop cannot run (one-line ConfigError).

    ``process`` is the loaded model's ``gaussian`` or ``residual_shift``.
    """
    sampler = cfg.get("sampler") or {}
    name = str(sampler.get("name", "ddim"))
    if name not in GAUSSIAN_SAMPLERS:
        raise ConfigError(f"unknown sampler.name '{name}'; known: {', '.join(GAUSSIAN_SAMPLERS)}")
    if int(sampler.get("steps", 1)) < 1:
        raise ConfigError(f"sampler.steps must be at least 1, got {sampler.get('steps')}")
    start = cfg.get("start") or {}
    mode = str(start.get("mode", "noise"))
    if mode not in START_MODES:
        raise ConfigError(f"unknown start.mode '{mode}'; known: {', '.join(START_MODES)}")
    fraction = start.get("t0_fraction", 0.5)
    if not 0.0 < float(fraction) <= 1.0:
        raise ConfigError(f"start.t0_fraction must lie in (0, 1], got {fraction}")
    consistency = str((cfg.get("consistency") or {}).get("name") or "")
    if process == "residual_shift" and consistency in NEEDS_ALPHA_BAR:
        raise ConfigError(
            f"consistency.name={consistency} needs a Gaussian noise schedule (alpha_bar), but this model "
            "runs a residual-shifting chain (diffusion.process: residual_shift); use consistency.name=ddnm or null"
        )


def build_consistency(
    cfg: DictConfig, scale: float, spatial_dims: int, registry: Any = None, wavelet: bool = False
) -> list[ConsistencyStep]:
    """Consistency steps named in ``cfg.consistency``: the core's (ILVR, DDNM, DDNM+, DPS)
    or one a plugin registered with ``register_sampler_steps`` (called as
    ``factory(operator=A, scale=s, spatial_dims=d, **cfg.consistency)``).

    ``scale`` is passed unrounded: a non-integer scale is refused, not rounded.
    """
    section = cfg.get("consistency")
    if not section or not section.get("name"):
        return []
    name = str(section.name)
    plugin_steps = registry.entries["sampler_steps"] if registry is not None else {}
    if name not in CONSISTENCY_STEPS and name not in plugin_steps:
        known = sorted(set(CONSISTENCY_STEPS) | set(plugin_steps))
        raise ConfigError(f"unknown consistency step '{name}'; known: {', '.join(known)}")
    if int(scale) != scale:
        raise UsageError(f"consistency step '{name}' needs an integer scale, got {scale:g}")
    operator_name = str(section.get("operator", "average_pool"))
    if operator_name not in OPERATORS:
        raise ConfigError(f"unknown consistency operator '{operator_name}'; known: {', '.join(sorted(OPERATORS))}")
    operator = OPERATORS[operator_name](int(scale), spatial_dims)
    if wavelet:
        operator = WaveletDomainOperator(operator, spatial_dims)
    if name in plugin_steps:
        params = {k: v for k, v in _plain(section).items() if k not in ("name", "operator")}
        return [plugin_steps[name].factory(operator=operator, scale=int(scale), spatial_dims=spatial_dims, **params)]
    if name == "ilvr":
        return [CONSISTENCY_STEPS[name](int(scale), spatial_dims, operator=operator)]
    if name == "ddnm+":
        return [CONSISTENCY_STEPS[name](operator, float(section.get("sigma_y", 0.0)))]
    if name == "dps":
        return [CONSISTENCY_STEPS[name](operator, float(section.get("step_size", 1.0)))]
    return [CONSISTENCY_STEPS[name](operator)]


def _plain(section: Any) -> Any:
    return OmegaConf.to_container(section, resolve=True) if isinstance(section, DictConfig) else dict(section)


def _guided_output(denoise: Denoise, x_t: torch.Tensor, t: torch.Tensor, cond: Condition | None, scale: float | None) -> torch.Tensor:
    """The model output, with classifier-free guidance (survey eq. 33) when ``scale`` is set.

    The conditional and unconditional passes run as one batch of 2B, so CFG
    costs one (larger) forward per step.
    """
    if scale is None or cond is None or scale == 1.0:
        return denoise(x_t, t, cond)
    both = denoise(torch.cat([x_t, x_t]), torch.cat([t, t]), cond.cat(cond.null()))
    cond_out, uncond_out = both.chunk(2)
    return classifier_free_guidance(cond_out, uncond_out, scale)


def _alpha_bar(sampler: Sampler, timestep: int) -> float | None:
    schedule = sampler.schedule
    if not hasattr(schedule, "alpha_bar"):
        return None
    return float(schedule.alpha_bar(torch.tensor([timestep]))[0])


def run_reverse_process(
    denoise: Denoise,
    x_start: torch.Tensor,
    sampler: Sampler,
    *,
    cond: Condition | None = None,
    guidance_scale: float | None = None,
    consistency: Sequence[ConsistencyStep] = (),
    measurement: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Walk ``sampler.timesteps`` (already set, possibly truncated) from ``x_start`` to x0.

    Consistency steps correct the x0 estimate before each sampler step
    (DDNM) and/or the new sample after it (ILVR, DPS); ``measurement`` is the
    observed ``y`` they project onto.
    """
    sampler.reset()
    timesteps = [int(t) for t in sampler.timesteps]
    needs_x0 = any(type(c).correct_x0 is not ConsistencyStep.correct_x0 for c in consistency)
    needs_prev = [c for c in consistency if type(c).correct_prev is not ConsistencyStep.correct_prev]
    if consistency and measurement is None:
        raise ValueError("consistency steps need the measurement y")
    if not hasattr(sampler.schedule, "alpha_bar"):
        gaussian_only = [type(c).__name__ for c in consistency if isinstance(c, tuple(NEEDS_ALPHA_BAR.values()))]
        if gaussian_only:
            raise ValueError(f"{', '.join(gaussian_only)} need a Gaussian schedule (alpha_bar); this chain has none")
    x = x_start
    steps: Iterable[int] = progress(timesteps, len(timesteps)) if progress else timesteps
    for timestep in steps:
        t = torch.full((x.shape[0],), timestep, device=x.device, dtype=torch.long)
        with torch.no_grad():
            output = _guided_output(denoise, x, t, cond, guidance_scale)
        if needs_x0:
            output = _correct_x0(output, x, timestep, sampler, consistency, measurement)
        stepped = sampler.step(output, timestep, x, generator=generator)
        x_prev = stepped.prev_sample
        if needs_prev:
            t_prev = sampler.prev_timestep(timestep)
            x0_fn = _x0_function(denoise, t, cond, guidance_scale, sampler, timestep)
            for step in needs_prev:
                x_prev = step.correct_prev(
                    x_prev, t_prev, measurement, sampler.schedule, generator, x_t=x, x0=stepped.pred_original_sample, x0_fn=x0_fn
                )
        x = x_prev.detach()
    return x


def _correct_x0(
    output: torch.Tensor, x_t: torch.Tensor, timestep: int, sampler: Sampler, consistency: Sequence[ConsistencyStep], y: torch.Tensor | None
) -> torch.Tensor:
    alpha_bar = _alpha_bar(sampler, timestep)
    if alpha_bar is None:  # x0-predicting chains (residual shifting): the output is x0
        x0 = output
    else:
        x0, _ = predict_x0_and_eps(output, x_t, alpha_bar, sampler.prediction_type)
    for step in consistency:
        x0 = step.correct_x0(x0, timestep, y)
    if alpha_bar is None:
        return x0
    return model_output_from_x0(x0, x_t, alpha_bar, sampler.prediction_type)


def _x0_function(denoise: Denoise, t: torch.Tensor, cond: Condition | None, scale: float | None, sampler: Sampler, timestep: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """A differentiable x_t -> x0 estimate (DPS needs gradients through the model)."""
    alpha_bar = _alpha_bar(sampler, timestep)

    def x0_fn(x_t: torch.Tensor) -> torch.Tensor:
        output = _guided_output(denoise, x_t, t, cond, scale)
        if alpha_bar is None:
            return output
        return predict_x0_and_eps(output, x_t, alpha_bar, sampler.prediction_type)[0]

    return x0_fn
