"""Fourier (k-space) resampling: truncation and zero-filling along voxel axes.

An MRI scanner measures the low spatial frequencies of the object; the image
is their inverse DFT.  Measuring fewer k-space lines (a smaller matrix over the
same FOV) is therefore *k-space truncation*, the physical low resolution, and
its natural pseudo-inverse is *zero-filling* (ideal sinc interpolation,
"ZIP"; Bernstein et al., *Handbook of MRI Pulse Sequences*, 2004, sec. 13.1;
Du et al., MRM 31:1994).

With the DFT normalised as Fourier-series coefficients,
``X[k] = (1/N) sum_n x[n] exp(-2 pi i k n / N)`` (``norm="forward"``), the
coefficients of the low frequencies do not depend on ``N``: cropping or
zero-padding them keeps intensities in their units (the mean is ``X[0]``).

For a real image the Nyquist bin of an even-length axis holds the sum of the
``+N/2`` and ``-N/2`` components: truncation folds both into it and
zero-filling splits it in halves between them (the convention of
``scipy.signal.resample``).  Results stay real, and truncation undoes
zero-filling exactly: ``truncate(zero_fill(x)) == x``.

The DFT sample positions ``n/N`` and ``m/(fN)`` coincide at voxel 0, so the
resampled grid keeps the world position of voxel 0 (see
:mod:`restore_mri.geometry`).
"""
from __future__ import annotations

from typing import Sequence

import torch


def fourier_resize(x: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    """Resample real ``x`` to ``size`` samples along ``dim`` by cropping or zero-filling its spectrum."""
    if x.is_complex():
        raise TypeError("fourier_resize expects a real tensor (magnitude images)")
    n = x.shape[dim]
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    if size == n:
        return x
    spectrum = torch.fft.rfft(x, dim=dim, norm="forward")
    spectrum = spectrum.movedim(dim, -1)
    out = spectrum.new_zeros((*spectrum.shape[:-1], size // 2 + 1))
    keep = min(n, size) // 2 + 1  # bins 0 .. min(n, size) // 2
    out[..., :keep] = spectrum[..., :keep]
    if size < n and size % 2 == 0:
        # Fold: the output's Nyquist bin gathers input bins +size/2 and -size/2 = conj(+size/2).
        nyquist = spectrum[..., size // 2]
        out[..., size // 2] = nyquist + nyquist.conj()
    elif size > n and n % 2 == 0:
        # Split: the input's Nyquist bin becomes +n/2 and -n/2 halves (irfft adds the mirror).
        out[..., n // 2] = spectrum[..., n // 2] / 2
    return torch.fft.irfft(out.movedim(-1, dim), n=size, dim=dim, norm="forward")


def fourier_resample(x: torch.Tensor, shape: Sequence[int], dims: Sequence[int]) -> torch.Tensor:
    """Fourier-resize ``x`` to ``shape[i]`` samples along each ``dims[i]`` (separable, any rank)."""
    if len(shape) != len(dims):
        raise ValueError(f"{len(shape)} sizes for {len(dims)} axes")
    for size, dim in zip(shape, dims):
        x = fourier_resize(x, int(size), int(dim))
    return x


def kspace_truncate(x: torch.Tensor, factors: Sequence[float], dims: Sequence[int]) -> torch.Tensor:
    """Keep the central ``1/f`` of k-space along each of ``dims``: the LR acquisition of the same FOV."""
    shape = [max(1, int(x.shape[d] / float(f) + 0.5)) for f, d in zip(factors, dims)]
    return fourier_resample(x, shape, dims)


def zero_fill(x: torch.Tensor, factors: Sequence[float], dims: Sequence[int]) -> torch.Tensor:
    """Zero-fill k-space ``f`` times along each of ``dims``: ideal sinc interpolation."""
    shape = [max(1, int(x.shape[d] * float(f) + 0.5)) for f, d in zip(factors, dims)]
    return fourier_resample(x, shape, dims)
