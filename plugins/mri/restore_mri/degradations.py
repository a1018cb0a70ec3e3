"""Degradation models of MRI: how LR (and noisy) training inputs are made from HR volumes.

Every factory returns ``degrade(hr, generator) -> lr`` acting on a batch
``(B, C, *spatial)`` of real magnitude images: ``(B, C, H, W)`` slices (both
axes in-plane) or ``(B, C, X, Y, Z)`` volumes (the in-plane axes are the two
other than ``slice_axis``).  Intensities keep their units.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from restore_core.errors import UsageError
from restore_mri.kspace import kspace_truncate
from restore_mri.scale import DEFAULT_SLICE_AXIS, parse_mri_scale

from restore_core.degradations import Degrade

#: FWHM = 2 sqrt(2 ln 2) sigma for a Gaussian slice profile.
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


def _factors_by_dim(hr: torch.Tensor, scale: Any, slice_axis: int) -> list[tuple[int, float]]:
    """(tensor dim, factor) pairs: a 2D batch is all in-plane; a 3D batch follows ``parse_mri_scale``."""
    spatial = hr.ndim - 2
    if spatial == 2:
        in_plane = [f for axis, f in enumerate(parse_mri_scale(scale, 2)) if axis != 2]
        if len(set(in_plane)) != 1:
            raise ValueError(f"2D slices take one in-plane factor, got scale {scale}")
        return [(2, in_plane[0]), (3, in_plane[1])]
    if spatial != 3:
        raise ValueError(f"expected (B, C, H, W) or (B, C, X, Y, Z), got shape {tuple(hr.shape)}")
    return [(2 + axis, f) for axis, f in enumerate(parse_mri_scale(scale, slice_axis)) if f != 1]


def kspace_truncation(scale: Any = 2, slice_axis: int = DEFAULT_SLICE_AXIS) -> Degrade:
    """In-plane k-space truncation by ``scale`` (×2, ×4...): the centre crop of each slice's 2D FFT.

    This is the physical low resolution of MRI: the same FOV measured with a
    ``1/scale`` matrix (Chen et al., MICCAI 2018, sec. 2.1; Chung et al.
    R2D2+, TMI 2023).  A per-axis scale ``"sx,sy,sz"`` truncates every axis
    whose factor is not 1 (3D acquisitions).  See :mod:`restore_mri.kspace`.
    """

    def degrade(hr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        pairs = _factors_by_dim(hr, scale, slice_axis)
        return kspace_truncate(hr, [f for _, f in pairs], [d for d, _ in pairs])

    return degrade


def slice_profile_matrix(length: int, factor: float, profile: str = "box") -> torch.Tensor:
    """Weights ``W[j, i]`` (float64) of HR slice ``i`` in thick slice ``j``; rows sum to 1.

    Thick slice ``j`` is centred at HR position ``factor*j + (factor-1)/2``.
    ``box``: the mean of ``factor`` adjacent slices (an ideal rectangular slice
    profile, slice thickness = ``factor`` HR slices, no gap).
    ``gaussian``: a Gaussian slice profile with FWHM = ``factor`` HR slices,
    truncated at 3 sigma beyond the thick slice and renormalised at the volume's
    ends (real excitation profiles are smooth; Greenspan et al., Comput. J. 2009).
    """
    if int(factor) != factor or factor < 1:
        raise ValueError(f"slice thickening needs an integer factor >= 1, got {factor}")
    if profile not in ("box", "gaussian"):
        raise ValueError(f"slice profile must be 'box' or 'gaussian', got '{profile}'")
    factor = int(factor)
    count = length // factor
    if count < 1:
        raise ValueError(f"{length} slices cannot be thickened by {factor}")
    centres = factor * torch.arange(count, dtype=torch.float64) + (factor - 1) / 2
    distance = torch.arange(length, dtype=torch.float64)[None, :] - centres[:, None]
    if profile == "box":
        weights = (distance.abs() <= (factor - 1) / 2 + 1e-9).double()
    else:
        sigma = factor / FWHM_PER_SIGMA
        weights = torch.exp(-0.5 * (distance / sigma) ** 2) * (distance.abs() <= (factor - 1) / 2 + 3 * sigma)
    return weights / weights.sum(dim=1, keepdim=True)


def slice_thickening(scale: Any = 2, slice_axis: int = DEFAULT_SLICE_AXIS, profile: str = "box") -> Degrade:
    """Through-plane thickening: each output slice integrates ``scale`` adjacent HR slices.

    A single ``scale`` thickens the slice axis (of a 3D batch; the last axis of
    a 2D batch); ``"sx,sy,sz"`` thickens each axis by its own integer factor.
    """

    def degrade(hr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        spatial = hr.ndim - 2
        items = [float(s) for s in str(scale).split(",")] if isinstance(scale, (str, int, float)) else [float(s) for s in scale]
        if len(items) == spatial:
            pairs = [(2 + axis, f) for axis, f in enumerate(items)]
        elif len(items) == 1:
            pairs = [(2 + (slice_axis if spatial == 3 else spatial - 1), items[0])]
        else:
            raise ValueError(f"scale {scale} does not fit {spatial} spatial axes")
        out = hr
        for dim, factor in pairs:
            if factor == 1:
                continue
            W = slice_profile_matrix(out.shape[dim], factor, profile).to(out.dtype).to(out.device)
            out = torch.movedim(torch.movedim(out, dim, -1) @ W.T, -1, dim)
        return out

    return degrade


def rician(x: torch.Tensor, sigma: float | torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Magnitude of the signal plus complex Gaussian noise: ``|x + sigma (n_r + i n_i)|``.

    The magnitude of a complex MR signal with i.i.d. Gaussian noise in both
    channels is Rician distributed (Gudbjartsson & Patz, MRM 34:910, 1995):
    at zero signal it is Rayleigh with mean ``sigma sqrt(pi/2)`` (a positive
    bias), at high SNR nearly Gaussian with std ``sigma``.
    """
    real = torch.randn(x.shape, generator=generator, dtype=x.dtype, device="cpu").to(x.device)
    imag = torch.randn(x.shape, generator=generator, dtype=x.dtype, device="cpu").to(x.device)
    return torch.sqrt((x + sigma * real) ** 2 + (sigma * imag) ** 2)


def rician_noise(sigma: float = 0.05, relative: bool = True, scale: Any = 1) -> Degrade:
    """Rician noise of std ``sigma`` per channel: absolute units, or relative to each item's maximum.

    ``relative=True`` follows BrainWeb's "percent noise" (sigma as a fraction of
    the brightest intensity; Kwan et al., TMI 1999).  ``scale`` is accepted so
    the factory fits ``restore eval``; noise does not change the grid (must be 1).
    """
    if float(str(scale).split(",")[0]) != 1:
        raise UsageError(f"Rician noise keeps the grid; scale must be 1, got {scale} (use kspace_rician)")

    def degrade(hr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        level: float | torch.Tensor = sigma
        if relative:
            peak = hr.flatten(1).amax(dim=1).clamp_min(torch.finfo(hr.dtype).tiny)
            level = sigma * peak.view(-1, *([1] * (hr.ndim - 1)))
        return rician(hr, level, generator)

    return degrade


def kspace_rician(scale: Any = 2, slice_axis: int = DEFAULT_SLICE_AXIS, sigma: float = 0.05, relative: bool = True) -> Degrade:
    """k-space truncation, then Rician noise at the LR resolution (a noisy low-resolution scan)."""
    truncate = kspace_truncation(scale, slice_axis)
    noise = rician_noise(sigma, relative)
    return lambda hr, generator=None: noise(truncate(hr, generator), generator)
