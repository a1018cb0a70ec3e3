"""A physically grounded simulator of imaging through atmospheric turbulence (tilt, then blur, then noise).

The model (the "tilt-then-blur" split of Chimitt & Chan, "Simulating anisoplanatic turbulence by
sampling intermodal and spatially correlated Zernike coefficients", Opt. Eng. 59(8) 2020, sec. 2;
with the phase-screen formulation of Schmidt, "Numerical Simulation of Optical Wave Propagation",
SPIE 2010, ch. 9):

* One von Kármán phase screen phi per frame sequence (``aotools.turbulence.ft_sh_phase_screen``: FFT
  screen with sub-harmonics, so the low orders that make tilt are right), with Fried parameter
  r0 = D / (D/r0) over a pupil of diameter D sampled ``pupil_samples`` times.
* Anisoplanatism by geometry: the pupil footprint of the ray bundle from an image point sits at a
  position on the screen proportional to the field angle; it moves one aperture diameter every
  ``isoplanatic_px`` image pixels.  Points closer than that share turbulence, points further apart do not.
* Tilt: the footprint-averaged phase gradient (G-tilt), theta = lambda / (2 pi) <grad phi>, is the local
  image displacement; in pixels, ``pixels_per_diffraction`` x D <grad phi> / (2 pi).  Its one-axis
  variance follows 0.17 (D/r0)^(5/3) (lambda/D)^2 (Fried 1965; Tyler 1994), which the tests check.
* Blur: the tilt-removed phase over each footprint gives a PSF |F{P exp(i phi)}|^2 at the image's
  sampling (integrated over pixels), on a grid of footprints ``isoplanatic_px`` apart, blended
  bilinearly between grid nodes (Nagy & O'Leary 1998, piecewise-constant PSF interpolation).
* Frames: Taylor's frozen flow, the screen moves ``wind`` aperture diameters per frame; with
  ``wind >= 1`` frames are nearly independent realisations.
* Noise: additive Gaussian, ``noise`` in units of the image's full scale.

Strength: D/r0 in [1, 2] is weak turbulence, [2, 4] moderate, [4, 8] strong (the ranges of Chimitt &
Chan 2020, Table 2, and of the long-range datasets they model).  Nothing here is learned.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

#: One-axis G-tilt variance coefficient, in (lambda/D)^2 per (D/r0)^(5/3) (Tyler 1994, JOSA A 11(1)).
G_TILT_VARIANCE = 0.170


@dataclass(frozen=True)
class TurbulenceParams:
    """The simulator's physical settings (see the module docstring)."""

    d_r0: float = 3.0
    pixels_per_diffraction: float = 1.0
    isoplanatic_px: float = 32.0
    wind: float = 0.5
    noise: float = 0.01
    pupil_samples: int = 32
    outer_scale: float = 100.0
    inner_scale: float = 0.01

    def __post_init__(self) -> None:
        if not 0 < self.d_r0 <= 20:
            raise ValueError(f"d_r0 must lie in (0, 20], got {self.d_r0}")
        if self.pixels_per_diffraction <= 0 or self.isoplanatic_px < 2:
            raise ValueError("pixels_per_diffraction must be > 0 and isoplanatic_px >= 2")
        if self.noise < 0 or self.wind < 0 or self.pupil_samples < 8:
            raise ValueError("noise and wind must be >= 0, pupil_samples >= 8")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "TurbulenceParams":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown turbulence parameter(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{k: float(v) if k != "pupil_samples" else int(v) for k, v in values.items()})


def phase_screen(params: TurbulenceParams, size: int, seed: int) -> np.ndarray:
    """A von Kármán screen (radians) of ``size``² samples, ``pupil_samples`` per aperture diameter D = 1."""
    from aotools.turbulence.phasescreen import ft_sh_phase_screen

    delta = 1.0 / params.pupil_samples
    return ft_sh_phase_screen(1.0 / params.d_r0, size, delta, params.outer_scale, params.inner_scale, seed=seed)


def _disc(samples: int) -> np.ndarray:
    r = (np.arange(samples) - (samples - 1) / 2) / (samples / 2)
    return (r[None, :] ** 2 + r[:, None] ** 2 <= 1.0).astype(np.float64)


def tilt_maps(screen: np.ndarray, params: TurbulenceParams) -> tuple[np.ndarray, np.ndarray]:
    """The footprint-averaged phase gradient as image displacement in pixels, (dy, dx), per screen sample."""
    n = params.pupil_samples
    gy, gx = np.gradient(screen, 1.0 / n)  # rad per aperture diameter
    disc = _disc(n)
    disc /= disc.sum()
    kernel = np.zeros_like(screen)
    kernel[:n, :n] = disc
    kernel = np.roll(kernel, (-(n // 2), -(n // 2)), axis=(0, 1))
    k = np.fft.rfft2(kernel)
    scale = params.pixels_per_diffraction / (2 * math.pi)
    average = lambda g: np.fft.irfft2(np.fft.rfft2(g) * k, s=g.shape)  # noqa: E731
    return average(gy) * scale, average(gx) * scale


def psf(pupil_phase: np.ndarray, params: TurbulenceParams, size: int) -> np.ndarray:
    """The PSF of one footprint, tilt removed, integrated over pixels, ``size``² and summing to 1."""
    n = params.pupil_samples
    mask = _disc(n)
    inside = mask > 0
    yy, xx = np.mgrid[:n, :n]
    design = np.stack([np.ones(inside.sum()), yy[inside], xx[inside]], axis=1)
    coef, *_ = np.linalg.lstsq(design, pupil_phase[inside], rcond=None)
    flat = pupil_phase - (coef[0] + coef[1] * yy + coef[2] * xx)
    q = params.pixels_per_diffraction
    oversample = max(2, math.ceil(2 / q))
    grid = int(round(n * q * oversample))
    field = np.zeros((grid, grid), dtype=np.complex128)
    field[:n, :n] = mask * np.exp(1j * flat)
    intensity = np.abs(np.fft.fftshift(np.fft.fft2(field))) ** 2
    pixels = grid // oversample
    intensity = intensity[: pixels * oversample, : pixels * oversample].reshape(pixels, oversample, pixels, oversample).sum(axis=(1, 3))
    centre = pixels // 2
    half = min(size // 2, centre)
    crop = intensity[centre - half: centre + half + 1, centre - half: centre + half + 1]
    return crop / crop.sum()


def kernel_size(params: TurbulenceParams) -> int:
    """Odd PSF support in pixels: about 2.5 seeing widths (lambda/r0) each side, at least 5."""
    half = math.ceil(2.5 * params.pixels_per_diffraction * max(1.0, params.d_r0))
    field_of_view = int(params.pupil_samples * params.pixels_per_diffraction) - 1  # what the pupil sampling resolves
    return max(5, min(2 * half + 1, 63, field_of_view)) | 1


def _grid(length: int, spacing: float) -> np.ndarray:
    count = max(2, math.ceil((length - 1) / spacing) + 1)
    return np.linspace(0.0, length - 1.0, count)


def _hat(positions: np.ndarray, node: float, spacing: float) -> np.ndarray:
    return np.clip(1.0 - np.abs(positions - node) / spacing, 0.0, None) if spacing > 0 else np.ones_like(positions)


def _warp(image: torch.Tensor, dy: np.ndarray, dx: np.ndarray) -> torch.Tensor:
    """Sample ``image`` (C, H, W) at (y + dy, x + dx), bicubic, reflecting at the borders."""
    _, h, w = image.shape
    ys = (np.arange(h)[:, None] + dy) * (2.0 / max(h - 1, 1)) - 1.0
    xs = (np.arange(w)[None, :] + dx) * (2.0 / max(w - 1, 1)) - 1.0
    grid = torch.from_numpy(np.stack([xs, ys], axis=-1)[None]).to(image.dtype)
    return F.grid_sample(image[None], grid, mode="bicubic", padding_mode="reflection", align_corners=True)[0]


def _varying_blur(image: torch.Tensor, kernels: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> torch.Tensor:
    """Blur with PSF ``kernels[a, b]`` at grid node (ys[a], xs[b]), bilinearly blended between nodes."""
    c, h, w = image.shape
    size = kernels.shape[-1]
    pad = size // 2
    padded = F.pad(image[None], (pad, pad, pad, pad), mode="reflect" if min(h, w) > pad else "replicate")[0]
    out = torch.zeros_like(image)
    sy = ys[1] - ys[0] if len(ys) > 1 else 0.0
    sx = xs[1] - xs[0] if len(xs) > 1 else 0.0
    rows, cols = np.arange(h), np.arange(w)
    for a, y0 in enumerate(ys):
        r0, r1 = max(0, math.floor(y0 - sy)), min(h, math.ceil(y0 + sy) + 1)
        wy = _hat(rows[r0:r1], y0, sy)
        for b, x0 in enumerate(xs):
            c0, c1 = max(0, math.floor(x0 - sx)), min(w, math.ceil(x0 + sx) + 1)
            wx = _hat(cols[c0:c1], x0, sx)
            region = padded[:, r0: r1 + 2 * pad, c0: c1 + 2 * pad]
            k = torch.from_numpy(np.ascontiguousarray(kernels[a, b][::-1, ::-1])).to(image.dtype)
            blurred = F.conv2d(region[:, None], k[None, None])[:, 0]
            weight = torch.from_numpy(np.outer(wy, wx)).to(image.dtype)
            out[:, r0:r1, c0:c1] += blurred * weight
    return out


def simulate(image: torch.Tensor, params: TurbulenceParams, frames: int = 1, seed: int = 0) -> torch.Tensor:
    """Frames of ``image`` (C, H, W, values in [0, 1]) seen through turbulence: (frames, C, H, W) in [0, 1].

    One screen for the sequence, moved by ``wind`` per frame (frozen flow); tilt by warping, then the
    spatially varying blur, then noise (module docstring).  Deterministic given ``seed``.
    """
    if image.ndim != 3:
        raise ValueError(f"expected (C, H, W), got shape {tuple(image.shape)}")
    if frames < 1:
        raise ValueError("frames must be >= 1")
    image = image.to(torch.float32)
    _, h, w = image.shape
    n = params.pupil_samples
    iso = params.isoplanatic_px
    span_y, span_x = (h - 1) / iso, (w - 1) / iso + params.wind * (frames - 1)
    needed = math.ceil((max(span_y, span_x) + 2.5) * n)
    size = 1 << max(6, math.ceil(math.log2(needed)))
    if size > 8192:
        raise ValueError(f"a {h}x{w} image with isoplanatic_px={iso:g} needs a {size}² phase screen; raise isoplanatic_px")
    screen = phase_screen(params, size, seed)
    tilt_y, tilt_x = tilt_maps(screen, params)
    margin = 1.25 * n  # screen samples before the first footprint centre
    ksize = kernel_size(params)
    nodes_y, nodes_x = _grid(h, iso), _grid(w, iso)
    rng = np.random.default_rng(seed + 1)
    from scipy.ndimage import map_coordinates

    out = []
    for k in range(frames):
        offset_x = margin + params.wind * k * n
        sy = margin + np.arange(h) / iso * n
        sx = offset_x + np.arange(w) / iso * n
        coords = np.meshgrid(sy, sx, indexing="ij")
        dy = map_coordinates(tilt_y, coords, order=1, mode="wrap")
        dx = map_coordinates(tilt_x, coords, order=1, mode="wrap")
        warped = _warp(image, dy, dx)
        kernels = np.empty((len(nodes_y), len(nodes_x), ksize, ksize))
        for a, y0 in enumerate(nodes_y):
            for b, x0 in enumerate(nodes_x):
                cy = int(round(margin + y0 / iso * n)) - n // 2
                cx = int(round(offset_x + x0 / iso * n)) - n // 2
                kernels[a, b] = psf(np.take(np.take(screen, np.arange(cy, cy + n), 0, mode="wrap"), np.arange(cx, cx + n), 1, mode="wrap"),
                                    params, ksize)
        blurred = _varying_blur(warped, kernels, nodes_y, nodes_x)
        if params.noise > 0:
            blurred = blurred + torch.from_numpy(rng.standard_normal(blurred.shape)).to(blurred.dtype) * params.noise
        out.append(blurred.clamp(0.0, 1.0))
    return torch.stack(out)


def with_strength(params: TurbulenceParams, d_r0: float) -> TurbulenceParams:
    return replace(params, d_r0=float(d_r0))


__all__ = ["G_TILT_VARIANCE", "TurbulenceParams", "kernel_size", "phase_screen", "psf", "simulate", "tilt_maps", "with_strength"]
