"""DDIM sampling (Song, Meng & Ermon 2021)."""
from __future__ import annotations

import torch

from ..schedules import NoiseSchedule
from .base import GaussianSampler, StepOutput, gaussian_noise

__all__ = ["DDIMSampler"]


class DDIMSampler(GaussianSampler):
    """x_s = sqrt(ab_s) x0 + sqrt(1 - ab_s - sigma^2) eps + sigma z (Song et al. DDIM 2021, eq. 12).

    sigma = eta sqrt((1 - ab_s)/(1 - ab_t)) sqrt(1 - ab_t/ab_s) (same paper, eq. 16):
    eta = 0 is the deterministic ODE sampler, eta = 1 the DDPM posterior.
    """

    def __init__(
        self,
        schedule: NoiseSchedule,
        prediction_type: str = "epsilon",
        clip_sample: float | None = None,
        timestep_spacing: str = "trailing",
        eta: float = 0.0,
    ) -> None:
        if eta < 0:
            raise ValueError(f"eta must be >= 0, got {eta}")
        self.eta = float(eta)
        super().__init__(schedule, prediction_type, clip_sample, timestep_spacing)

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int,
        sample: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> StepOutput:
        ab_t, ab_s = self._alpha_bars(timestep)
        x0, eps = self._x0_and_eps(model_output, ab_t, sample)
        variance = self.eta**2 * (1.0 - ab_s) / (1.0 - ab_t) * (1.0 - ab_t / ab_s)
        prev = ab_s**0.5 * x0 + max(1.0 - ab_s - variance, 0.0) ** 0.5 * eps
        if variance > 0:
            prev = prev + variance**0.5 * gaussian_noise(sample, generator)
        return StepOutput(prev, x0)
