"""Classifier-free guidance and the condition dropout that trains it."""
from __future__ import annotations

import torch

__all__ = ["classifier_free_guidance", "drop_condition"]


def classifier_free_guidance(
    cond_out: torch.Tensor, uncond_out: torch.Tensor, scale: float | torch.Tensor
) -> torch.Tensor:
    """uncond + scale (cond - uncond) (Moser et al. arXiv 2401.00736, eq. 33; Ho & Salimans 2022).

    scale 1 gives the conditional output, 0 the unconditional one. Evaluated as
    scale cond + (1 - scale) uncond, the same line, so both ends are exact to the bit.
    """
    return scale * cond_out + (1 - scale) * uncond_out


def drop_condition(
    cond: torch.Tensor, p: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero the condition of each sample with probability ``p`` (Ho & Salimans 2022, Alg. 1).

    Returns (condition with dropped samples zeroed, bool keep mask [B]).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"drop probability must lie in [0, 1], got {p}")
    u = torch.rand(cond.shape[0], generator=generator, device=generator.device if generator is not None else "cpu")
    keep = (u >= p).to(cond.device)
    mask = keep.reshape(-1, *([1] * (cond.ndim - 1)))
    return torch.where(mask, cond, torch.zeros_like(cond)), keep
