"""Fusing frames into the condition: global registration to a reference, then a temporal average.

Under turbulence the local tilt is zero-mean over time, so the average of registered frames of a
static scene is the classical "lucky-free" estimate of the geometrically correct image (blurred by
the long-exposure PSF); the reference frame keeps the sharpness of one short exposure.  The
condition of both turbulence methods is the pair (reference, fused average).

Registration is global translation by phase correlation (Kuglin & Hines 1975), sub-pixel by a
parabola through the correlation peak, applied by a Fourier shift.  Written here in torch because
what the field's packages offer (scikit-image's ``phase_cross_correlation``) works on NumPy arrays one
pair at a time and is not a dependency of the product.
"""
from __future__ import annotations

import torch


def _grey(frames: torch.Tensor) -> torch.Tensor:
    return frames.mean(dim=-3)


def _window(h: int, w: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.outer(torch.hann_window(h, periodic=False, dtype=dtype), torch.hann_window(w, periodic=False, dtype=dtype))


def _peak_offset(values: torch.Tensor) -> float:
    """Sub-pixel offset of a peak from three samples (left, centre, right) by a parabola."""
    left, centre, right = (float(v) for v in values)
    denominator = left - 2 * centre + right
    return 0.0 if abs(denominator) < 1e-12 else 0.5 * (left - right) / denominator


def estimate_shifts(frames: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """(T, 2) shifts (dy, dx) in pixels that move each of ``frames`` (T, C, H, W) onto ``reference`` (C, H, W)."""
    t, _, h, w = frames.shape
    window = _window(h, w, frames.dtype)
    ref = torch.fft.fft2((_grey(reference) - _grey(reference).mean()) * window)
    spectra = torch.fft.fft2((_grey(frames) - _grey(frames).mean(dim=(-2, -1), keepdim=True)) * window)
    cross = ref[None] * spectra.conj()
    correlation = torch.fft.ifft2(cross / cross.abs().clamp_min(1e-12)).real
    shifts = torch.zeros(t, 2, dtype=torch.float64)
    for k in range(t):
        flat = int(torch.argmax(correlation[k]))
        py, px = divmod(flat, w)
        rows = correlation[k, [(py - 1) % h, py, (py + 1) % h], px]
        cols = correlation[k, py, [(px - 1) % w, px, (px + 1) % w]]
        dy = py + _peak_offset(rows)
        dx = px + _peak_offset(cols)
        shifts[k, 0] = dy - h if dy > h / 2 else dy
        shifts[k, 1] = dx - w if dx > w / 2 else dx
    return shifts


def fourier_shift(frames: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Translate each frame (T, C, H, W) by its (dy, dx) with the Fourier shift theorem."""
    _, _, h, w = frames.shape
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(w, dtype=torch.float64)[None, :]
    phase = -2j * torch.pi * (shifts[:, 0, None, None] * fy + shifts[:, 1, None, None] * fx)
    spectrum = torch.fft.fft2(frames.to(torch.float64)) * torch.exp(phase)[:, None]
    return torch.fft.ifft2(spectrum).real.to(frames.dtype)


def fuse(frames: torch.Tensor, reference_index: int = 0, register: bool = True, max_shift: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(reference frame, registered temporal average) of ``frames`` (T, C, H, W).

    Two passes: every frame is registered to the reference and the shifts are centred on their mean
    (turbulent tilt averages out over the frames, so the mean position is the scene's geometry, while
    the reference frame carries its own tilt), then every frame is registered again to that average,
    a sharper anchor than any single noisy, warped frame.  benchmarks/turbulence_fusion.py
    (docs/benchmarks.md "turbulence-fusion"): +0.1 to 0.8 dB over one registration to the reference
    on held-out crops; without global motion the plain mean is 0.1 to 0.7 dB higher still, but
    registering to the plain mean fails under camera jitter (each frame finds its own copy in the
    ghosted mean; tests/test_fusion.py).  The average is in the burst's mean geometry.
    ``max_shift`` (pixels) discards implausible registrations (a shift larger than that is set to
    zero: on a static scene the camera barely moves, and a wrong peak would ghost the average).
    """
    if frames.ndim != 4 or frames.shape[0] < 1:
        raise ValueError(f"expected frames (T, C, H, W), got {tuple(frames.shape)}")
    reference = frames[reference_index]
    if frames.shape[0] == 1:
        return reference, reference.clone()
    if not register:
        return reference, frames.mean(dim=0)
    def registered(anchor: torch.Tensor, centre: bool) -> torch.Tensor:
        shifts = estimate_shifts(frames, anchor)
        if max_shift is not None:
            shifts[shifts.abs().amax(dim=1) > max_shift] = 0.0
        if centre:  # to the frames' mean position: the reference's own tilt is not the scene's geometry
            shifts = shifts - shifts.mean(dim=0, keepdim=True)
        return fourier_shift(frames, shifts).mean(dim=0)

    return reference, registered(registered(reference, centre=True), centre=False)


def temporal_neighbours(count: int, index: int, radius: int) -> list[int]:
    """The frames within ``radius`` of ``index`` (clipped at the clip's ends, always 2 radius + 1 when possible)."""
    span = min(count, 2 * radius + 1)
    start = min(max(0, index - radius), count - span)
    return list(range(start, start + span))


__all__ = ["estimate_shifts", "fourier_shift", "fuse", "temporal_neighbours"]
