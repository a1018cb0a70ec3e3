"""The reverse-diffusion loop: one denoiser call (or one batched CFG pair) per step.

Everything the loop needs is resolved before it starts, by
:mod:`restore_core.engine.plan` (sampler, start, consistency steps, guidance
scale); the loop itself never inspects which sampler or which method it runs,
and calls no plugin hook.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

import torch

from restore_core.diffusion.consistency import DDNMPlus, DPS, ILVR, ConsistencyStep
from restore_core.diffusion.guidance import classifier_free_guidance
from restore_core.diffusion.parameterization import model_output_from_x0, predict_x0_and_eps
from restore_core.diffusion.samplers.base import Sampler

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
        gaussian_only = [type(c).__name__ for c in consistency if isinstance(c, (ILVR, DDNMPlus, DPS))]
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
