"""Corruption spaces: what the diffusion model generates, given HR and up(LR).

One interface: ``to_target(hr, up_lr)`` gives the training target,
``from_target(target, up_lr)`` turns a generated target back into HR.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from .wavelet import haar_forward, haar_inverse

__all__ = ["CorruptionSpace", "PixelSpace", "ResidualSpace", "WaveletSpace"]


@runtime_checkable
class CorruptionSpace(Protocol):
    def to_target(self, hr: torch.Tensor, up_lr: torch.Tensor) -> torch.Tensor: ...

    def from_target(self, target: torch.Tensor, up_lr: torch.Tensor) -> torch.Tensor: ...


class PixelSpace:
    """The model generates HR itself, conditioned on up(LR) (SR3, Saharia et al. 2022)."""

    def to_target(self, hr: torch.Tensor, up_lr: torch.Tensor) -> torch.Tensor:
        return hr

    def from_target(self, target: torch.Tensor, up_lr: torch.Tensor) -> torch.Tensor:
        return target


class ResidualSpace:
    """The model generates the residual HR - up(LR) (SRDiff, Li et al. 2022, sec. 3.2)."""

    def to_target(self, hr: torch.Tensor, up_lr: torch.Tensor) -> torch.Tensor:
        return hr - up_lr

    def from_target(self, target: torch.Tensor, up_lr: torch.Tensor) -> torch.Tensor:
        return target + up_lr


class WaveletSpace:
    """Wrap another space with a one-level Haar transform: 2^d times the channels, half the size.

    Generating Haar subbands (as in wavelet-domain diffusion SR, e.g. WaveDM /
    DiWa) makes the model see high-frequency detail as separate channels.
    """

    def __init__(self, inner: CorruptionSpace, spatial_dims: int) -> None:
        self.inner = inner
        self.spatial_dims = spatial_dims

    def to_target(self, hr: torch.Tensor, up_lr: torch.Tensor) -> torch.Tensor:
        return haar_forward(self.inner.to_target(hr, up_lr), self.spatial_dims)

    def from_target(self, target: torch.Tensor, up_lr: torch.Tensor) -> torch.Tensor:
        return self.inner.from_target(haar_inverse(target, self.spatial_dims), up_lr)
