"""Test helpers: an exact denoiser for Gaussian data and a reference sampling loop.

If every pixel of x0 is N(mu, s^2), then x_t = a x0 + sigma eps (a = sqrt(ab),
sigma = sqrt(1 - ab)) is N(a mu, v) with v = a^2 s^2 + sigma^2, and
E[x0 | x_t] = mu + a s^2 (x_t - a mu)/v is the optimal (MMSE) denoiser. The
probability-flow ODE then keeps z = (x_t - a mu)/sqrt(v) constant (the flow is
monotone and affine between Gaussians), so its exact solution from x_T is
x0 = mu + s (x_T - a_T mu)/sqrt(v_T).
"""
from __future__ import annotations

from typing import Callable

import torch

from restore_core.diffusion.consistency import ConsistencyStep
from restore_core.diffusion.parameterization import model_output_from_x0, predict_x0_and_eps, to_model_output
from restore_core.diffusion.samplers.base import Sampler
from restore_core.diffusion.schedules import NoiseSchedule


def gaussian_x0(x_t: torch.Tensor, t: int, schedule: NoiseSchedule, mu: float, s: float) -> torch.Tensor:
    ab = float(schedule.alpha_bar(torch.tensor(t)))
    a, v = ab**0.5, ab * s**2 + (1.0 - ab)
    return mu + a * s**2 * (x_t - a * mu) / v


def gaussian_denoiser(
    schedule: NoiseSchedule, mu: float, s: float, prediction_type: str = "epsilon"
) -> Callable[[torch.Tensor, int], torch.Tensor]:
    """model(x_t, t) -> optimal output for the given parameterisation."""

    def model(x_t: torch.Tensor, t: int) -> torch.Tensor:
        ab = float(schedule.alpha_bar(torch.tensor(t)))
        x0 = gaussian_x0(x_t, t, schedule, mu, s)
        eps = (x_t - ab**0.5 * x0) / (1.0 - ab) ** 0.5
        return to_model_output(x0, eps, ab, prediction_type)

    return model


def exact_ode_solution(x_T: torch.Tensor, t_T: int, schedule: NoiseSchedule, mu: float, s: float) -> torch.Tensor:
    ab = float(schedule.alpha_bar(torch.tensor(t_T)))
    v = ab * s**2 + (1.0 - ab)
    return mu + s * (x_T - ab**0.5 * mu) / v**0.5


def run_chain(
    sampler: Sampler,
    model: Callable[[torch.Tensor, int], torch.Tensor],
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    step: ConsistencyStep | None = None,
    y: torch.Tensor | None = None,
    x0_fn_for: Callable[[int], Callable[[torch.Tensor], torch.Tensor]] | None = None,
) -> torch.Tensor:
    """The sampling loop as the engine is expected to run it (see consistency.py)."""
    schedule = sampler.schedule
    for t in sampler.timesteps.tolist():
        out = model(x, t)
        if step is not None:
            ab = float(schedule.alpha_bar(torch.tensor(t)))
            x0, _ = predict_x0_and_eps(out, x, ab, sampler.prediction_type)
            x0 = step.correct_x0(x0, t, y)
            out = model_output_from_x0(x0, x, ab, sampler.prediction_type)
        result = sampler.step(out, t, x, generator)
        x_prev = result.prev_sample
        if step is not None:
            x0_fn = x0_fn_for(t) if x0_fn_for is not None else None
            x_prev = step.correct_prev(
                x_prev, sampler.prev_timestep(t), y, schedule, generator,
                x_t=x, x0=result.pred_original_sample, x0_fn=x0_fn,
            )
        x = x_prev
    return x
