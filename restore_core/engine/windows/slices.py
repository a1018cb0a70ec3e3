"""The slice-wise windowing back-end: restore a volume slice by slice (2D models on 3D/4D data).

Each frame (3D volume of a 4D series) is mapped to [-1, 1] by its robust
percentiles, cut into 2D slices along ``axis``, sampled in batches of slices,
reassembled in 3D, mapped back to the input's units and optionally clipped
to the frame's own range.  What is sampled per batch is the method's:
``prepare(frame_index, slices)`` returns the function that restores one
batch (R2D2+ estimates the frame's noise level there; DisC-Diff picks the
matching reference slices).  Each batch's noise comes from a generator seeded
by the run's seed, the frame and the batch's position (never by run order).

Why not MONAI's ``SliceInferer``: it runs one predictor over slice-shaped
sliding windows of one volume, handing it only the patch tensor; here each
batch needs per-frame state (the frame's normalisation bounds, its estimated
noise level), the batch's slice indices (to pick the reference slices) and its
own seeded generator, and the output grid is finer than the input's in-plane
only.  A loop of a few lines states that more plainly than callbacks would.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from restore_core.context import RunContext
from restore_core.sample import Sample

BatchSampler = Callable[[torch.Tensor, slice, torch.Generator], torch.Tensor]
"""``(lr slices (B, 1, H, W) on the device, their slice range, generator) -> (B, 1, H', W')``."""


def robust_range(volume: np.ndarray, percentiles: Sequence[float] = (0.5, 99.5)) -> tuple[float, float]:
    """The intensities mapped to -1 and 1: robust low/high percentiles (never equal)."""
    low, high = (float(v) for v in np.percentile(np.asarray(volume, dtype=np.float64), [float(p) for p in percentiles]))
    if not high > low:
        low, high = float(np.min(volume)), float(np.max(volume))
    if not high > low:
        high = low + 1.0
    return low, high


def normalise(volume: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """Map ``bounds`` to [-1, 1] (float32)."""
    low, high = bounds
    return ((np.asarray(volume, dtype=np.float64) - low) / (high - low) * 2.0 - 1.0).astype(np.float32)


def denormalise(x: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """Inverse of :func:`normalise` (float32)."""
    low, high = bounds
    return ((np.asarray(x, dtype=np.float64) + 1.0) / 2.0 * (high - low) + low).astype(np.float32)


def to_slices(volume_units: np.ndarray, axis: int) -> torch.Tensor:
    """``(S, 1, H, W)`` slices of a normalised volume along ``axis``."""
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(volume_units, axis, 0)))[:, None]


def restore_slicewise(
    sample: Sample,
    axis: int,
    prepare: Callable[[int, torch.Tensor], BatchSampler],
    context: RunContext,
    percentiles: Sequence[float] = (0.5, 99.5),
    batch_slices: int = 8,
    clip: bool = True,
) -> Sample:
    """Restore every frame of ``sample`` slice-wise (module docstring); returns the resampled sample."""
    batch = max(1, int(batch_slices))
    frames = []
    for index, frame in enumerate(sample.data):
        bounds = robust_range(frame, percentiles)
        slices = to_slices(normalise(frame, bounds), axis)
        sample_batch = prepare(index, slices)
        outputs = []
        starts = range(0, slices.shape[0], batch)
        for number, start in enumerate(context.progress(starts, total=len(starts), desc="slices")):
            span = slice(start, start + batch)
            generator = context.generator(offset=1000 * index + number)
            with torch.no_grad():
                hr = sample_batch(slices[span].to(context.device), span, generator)
            outputs.append(hr[:, 0].float().cpu())
        restored = denormalise(np.moveaxis(torch.cat(outputs).numpy(), 0, axis), bounds)
        if clip:
            restored = np.clip(restored, float(frame.min()), float(frame.max()))
        frames.append(restored)
    return sample.resampled(np.stack(frames).astype(np.float32))
