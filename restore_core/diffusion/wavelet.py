"""One-level orthonormal Haar wavelet transform for 2D and 3D tensors.

Written by hand: it is one reshape and a 2-point butterfly per axis, exact
for any rank, and needs no wavelet dependency (pywt / pytorch_wavelets are
2D-only or numpy-bound).
"""
from __future__ import annotations

import math

import torch

__all__ = ["haar_forward", "haar_inverse"]

_R2 = 1.0 / math.sqrt(2.0)


def _check(x: torch.Tensor, spatial_dims: int) -> None:
    if spatial_dims not in (1, 2, 3) or x.ndim != spatial_dims + 2:
        raise ValueError(f"expected a (B, C, *{spatial_dims} spatial) tensor, got shape {tuple(x.shape)}")


def haar_forward(x: torch.Tensor, spatial_dims: int) -> torch.Tensor:
    """(B, C, *S) -> (B, 2^d C, *S/2); subband-major, LL..L first, HH..H last (orthonormal Haar).

    Output channel k*C + c is subband k of input channel c, where the bits of
    k (first spatial axis = most significant) say low (0) or high (1) pass.
    """
    _check(x, spatial_dims)
    B, C, *S = x.shape
    if any(s % 2 for s in S):
        raise ValueError(f"spatial sizes must be even, got {tuple(S)}")
    d = spatial_dims
    # (B, C, n1, 2, n2, 2, ...) -> butterfly on each pair axis -> (B, 2, 2, ..., C, n1, n2, ...)
    y = x.reshape(B, C, *[v for s in S for v in (s // 2, 2)])
    for i in range(d):
        axis = 3 + 2 * i
        even, odd = y.select(axis, 0), y.select(axis, 1)
        y = torch.stack(((even + odd) * _R2, (even - odd) * _R2), dim=axis)
    pair_axes = [3 + 2 * i for i in range(d)]
    grid_axes = [2 + 2 * i for i in range(d)]
    y = y.permute(0, *pair_axes, 1, *grid_axes)
    return y.reshape(B, (2**d) * C, *[s // 2 for s in S])


def haar_inverse(y: torch.Tensor, spatial_dims: int) -> torch.Tensor:
    """Inverse of :func:`haar_forward`: (B, 2^d C, *S) -> (B, C, *2S)."""
    _check(y, spatial_dims)
    d = spatial_dims
    B, K, *S = y.shape
    if K % (2**d):
        raise ValueError(f"channels ({K}) must be a multiple of {2**d}")
    C = K // 2**d
    z = y.reshape(B, *([2] * d), C, *S)
    # back to (B, C, n1, 2, n2, 2, ...)
    order = [0, d + 1]
    for i in range(d):
        order += [d + 2 + i, 1 + i]
    z = z.permute(*order)
    for i in range(d):
        axis = 3 + 2 * i
        low, high = z.select(axis, 0), z.select(axis, 1)
        z = torch.stack(((low + high) * _R2, (low - high) * _R2), dim=axis)
    return z.reshape(B, C, *[2 * s for s in S])
