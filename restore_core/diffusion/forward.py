"""The forward (noising) process q(x_t | x_0) of Gaussian diffusion."""
from __future__ import annotations

import torch

from .schedules import NoiseSchedule

__all__ = ["expand_to", "q_sample"]


def expand_to(coeff: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """Shape a scalar or per-sample coefficient [B] as [B, 1, ..., 1] for ``like``'s rank.

    The result takes ``like``'s dtype and device, so float64 schedule values
    never promote a float32 image.
    """
    coeff = torch.as_tensor(coeff, device=like.device)
    if coeff.ndim > 1:
        raise ValueError(f"coefficient must be a scalar or 1-D per-sample tensor, got shape {tuple(coeff.shape)}")
    if coeff.ndim == 1 and coeff.numel() not in (1, like.shape[0]):
        raise ValueError(f"{coeff.numel()} coefficients for a batch of {like.shape[0]}")
    return coeff.to(like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


def q_sample(
    x0: torch.Tensor, t: torch.Tensor | int, noise: torch.Tensor, schedule: NoiseSchedule
) -> torch.Tensor:
    """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise (Ho et al. 2020, eq. 4).

    ``t`` is an int or a long tensor [B]; t = -1 returns ``x0`` unchanged.
    """
    if noise.shape != x0.shape:
        raise ValueError(f"noise shape {tuple(noise.shape)} != x0 shape {tuple(x0.shape)}")
    ab = schedule.alpha_bar(torch.as_tensor(t, device=x0.device))
    return expand_to(ab.sqrt(), x0) * x0 + expand_to((1.0 - ab).sqrt(), x0) * noise
