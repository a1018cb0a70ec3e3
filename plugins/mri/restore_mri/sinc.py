"""Zero-filled k-space upsampling (ideal sinc interpolation): the MRI baseline.

Zero-filling is what scanners do to display a low-resolution acquisition on a
finer grid ("ZIP", Bernstein et al. 2004, sec. 13.1; Du et al., MRM 31:1994).
It is the exact right-inverse of k-space truncation, ``A(A^+ y) = y``: the
baseline keeps every measured frequency and invents none, so any gain of a
learned method over it is recovered high frequencies.  Each frame of a 4D
series is upsampled in turn.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from restore_core.context import RunContext
from restore_core.sample import Sample
from restore_mri.nifti import header_slice_axis
from restore_mri.scale import output_shape, parse_mri_scale, parse_slice_axis


def mri_factors(sample: Sample, cfg: Any) -> tuple[float, float, float]:
    """Per-voxel-axis factors of a run: ``cfg.scale`` read with ``cfg.slice_axis``."""
    slice_axis = parse_slice_axis(cfg.get("slice_axis"), header_slice_axis(sample))
    return parse_mri_scale(cfg.scale, slice_axis)


def sinc_upsample(volume: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Zero-fill the 3D spectrum of one ``(X, Y, Z)`` volume to ``shape`` (float64 FFT, float32 out)."""
    import torch

    from restore_mri.kspace import fourier_resample

    tensor = torch.from_numpy(np.asarray(volume, dtype=np.float64))
    return fourier_resample(tensor, shape, (0, 1, 2)).numpy().astype(np.float32)


class SincInterpolation:
    """Upsample every frame by zero-filling k-space along each scaled axis."""

    name = "sinc"

    def restore(self, sample: Sample, cfg: Any, context: RunContext) -> Sample:
        factors = mri_factors(sample, cfg)
        shape = output_shape(sample.spatial_shape, factors)
        clip = bool(cfg.get("sinc", {}).get("clip", True))
        frames = []
        for frame in context.progress(sample.data, total=sample.channels, desc="frames"):
            up = sinc_upsample(frame, shape)  # type: ignore[arg-type]
            if clip:
                # Gibbs overshoot beyond the measured range (e.g. negative magnitudes) is removed.
                up = np.clip(up, frame.min(), frame.max())
            frames.append(up)
        return sample.resampled(np.stack(frames))
