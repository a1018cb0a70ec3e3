"""Ancestral DDPM sampling on a respaced chain."""
from __future__ import annotations

import torch

from .base import GaussianSampler, StepOutput, gaussian_noise

__all__ = ["DDPMSampler"]


class DDPMSampler(GaussianSampler):
    """x_{s} ~ q(x_s | x_t, x0_hat) with the "fixed_small" posterior variance.

    Posterior mean and variance: Ho et al. 2020, eq. 6-7. On a respaced chain
    t -> s the step's beta is recomputed as 1 - alpha_bar_t/alpha_bar_s
    (Nichol & Dhariwal 2021, sec. 4), so any number of steps is valid.
    """

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int,
        sample: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> StepOutput:
        ab_t, ab_s = self._alpha_bars(timestep)
        x0, _ = self._x0_and_eps(model_output, ab_t, sample)
        beta = 1.0 - ab_t / ab_s
        coef_x0 = ab_s**0.5 * beta / (1.0 - ab_t)
        coef_xt = (1.0 - beta) ** 0.5 * (1.0 - ab_s) / (1.0 - ab_t)
        mean = coef_x0 * x0 + coef_xt * sample
        variance = (1.0 - ab_s) / (1.0 - ab_t) * beta
        if variance > 0:
            mean = mean + variance**0.5 * gaussian_noise(sample, generator)
        return StepOutput(mean, x0)
