"""Colour correction of a restored image against a reference."""
from __future__ import annotations

import torch

__all__ = ["match_mean_std"]


def match_mean_std(x: torch.Tensor, reference: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-sample, per-channel mean/std matching (Moser et al. arXiv 2401.00736, eq. 47).

    x' = (x - mu_x)/sigma_x * sigma_ref + mu_ref over all spatial positions;
    ``reference`` (e.g. the LR input) may have a different spatial size and any rank.
    """
    if x.shape[:2] != reference.shape[:2]:
        raise ValueError(f"batch/channel mismatch: {tuple(x.shape[:2])} vs {tuple(reference.shape[:2])}")
    dims = tuple(range(2, x.ndim))
    ref_dims = tuple(range(2, reference.ndim))
    mu_x, sd_x = x.mean(dims, keepdim=True), x.std(dims, keepdim=True, unbiased=False)
    mu_r = reference.mean(ref_dims).reshape(mu_x.shape)
    sd_r = reference.std(ref_dims, unbiased=False).reshape(sd_x.shape)
    return (x - mu_x) / (sd_x + eps) * sd_r + mu_r
