"""A reference contrast brought onto the target's output grid by the two NIfTI affines.

Multi-contrast SR (DisC-Diff) needs the reference voxel that sits at the same
world position as each output voxel.  With ``A_out`` the output grid's
voxel-to-world affine and ``A_ref`` the reference's, output voxel ``j`` reads
the reference at fractional index ``i = A_ref^-1 A_out j``; values come from
trilinear interpolation (``scipy.ndimage.affine_transform``, order 1, which
does exactly this for a 4x4 homogeneous matrix).  Output voxels whose world
position lies outside the reference's field of view are 0 and reported as
the overlap fraction; no overlap at all is a bad input.

When the two grids coincide (the usual co-registered case, e.g. the shipped
samples), the matrix is the identity and the reference is returned as is.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from restore_core.errors import InputError


@dataclass(frozen=True)
class ResampledReference:
    """The reference on the output grid and the fraction of output voxels it covers."""

    data: np.ndarray  # (X, Y, Z) float32, 0 outside the reference's field of view
    inside: np.ndarray  # (X, Y, Z) bool: output voxels inside the reference's field of view
    overlap: float


def reference_to_grid(reference: np.ndarray, reference_affine: np.ndarray, grid_affine: np.ndarray, grid_shape: tuple[int, int, int]) -> ResampledReference:
    """Resample a 3D ``reference`` onto the grid ``(grid_affine, grid_shape)`` (see the module docstring)."""
    from scipy.ndimage import affine_transform

    matrix = np.linalg.solve(np.asarray(reference_affine, np.float64), np.asarray(grid_affine, np.float64))
    shape = tuple(int(s) for s in grid_shape)
    if np.allclose(matrix, np.eye(4), atol=1e-6) and tuple(reference.shape) == shape:
        return ResampledReference(reference.astype(np.float32), np.ones(shape, bool), 1.0)
    data = affine_transform(reference.astype(np.float32), matrix, output_shape=shape, order=1, mode="constant", cval=0.0)
    # inside the field of view: the fractional index lies within [-0.5, n - 0.5] on every axis
    inside = np.ones(shape, bool)
    index = np.indices(shape, dtype=np.float64).reshape(3, -1)
    source = matrix[:3, :3] @ index + matrix[:3, 3:4]
    for axis, size in enumerate(reference.shape):
        inside &= ((source[axis] >= -0.5) & (source[axis] <= size - 0.5)).reshape(shape)
    data[~inside] = 0.0
    return ResampledReference(data.astype(np.float32), inside, float(inside.mean()))


def load_reference(path: Path, grid_affine: np.ndarray, grid_shape: tuple[int, int, int], target: Path | None, min_overlap: float) -> ResampledReference:
    """Read the reference NIfTI at ``path`` and resample it onto the output grid.

    Refused (one InputError naming the reference) when it is not a single 3D
    volume, holds NaN/Inf, or covers less than ``min_overlap`` of the grid in
    world space (nothing at all: it does not overlap the target).
    """
    from restore_mri.nifti import read_nifti

    path = Path(path)
    try:
        sample = read_nifti(path)
    except InputError as exc:
        raise InputError(path, f"reference: {exc.problem}") from None
    if sample.data.shape[0] != 1:
        raise InputError(path, f"reference: expected one 3D volume, got a series of {sample.data.shape[0]} frames")
    volume = sample.data[0]
    if not np.isfinite(volume).all():
        raise InputError(path, "reference: holds NaN or Inf voxels")
    resampled = reference_to_grid(volume, sample.geometry.affine, grid_affine, grid_shape)  # type: ignore[union-attr]
    name = f" {target}" if target is not None else ""
    if resampled.overlap == 0.0:
        raise InputError(path, f"reference does not overlap the target{name} in world space (compare the two affines)")
    if resampled.overlap < min_overlap:
        raise InputError(
            path, f"reference covers only {100 * resampled.overlap:.0f}% of the target{name} in world space "
            f"(disc_diff.min_overlap is {100 * min_overlap:.0f}%)"
        )
    return resampled
