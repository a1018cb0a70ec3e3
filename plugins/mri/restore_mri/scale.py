"""What ``--scale`` and ``slice_axis`` mean for a volume.

``--scale s`` super-resolves the two in-plane voxel axes by ``s`` and leaves
the slice axis alone; ``--scale sx,sy,sz`` gives every voxel axis its own
factor (``1,1,3`` is through-plane SR of a thick-slice scan).  Axes are voxel
axes of the file as stored, whatever its orientation in world space.
"""
from __future__ import annotations

from typing import Any, Sequence

from restore_core.errors import UsageError

#: The slice axis when neither the config nor the header names one (NIfTI's third voxel axis).
DEFAULT_SLICE_AXIS = 2


def parse_slice_axis(value: Any, header_slice_axis: int | None = None) -> int:
    """Return the slice axis 0, 1 or 2.

    ``"auto"`` takes the slice dimension recorded in the NIfTI header's
    ``dim_info`` (``header_slice_axis``), else :data:`DEFAULT_SLICE_AXIS`;
    ``None`` means :data:`DEFAULT_SLICE_AXIS`.
    """
    if value is None:
        return DEFAULT_SLICE_AXIS
    if isinstance(value, str) and value.strip().lower() == "auto":
        return DEFAULT_SLICE_AXIS if header_slice_axis is None else int(header_slice_axis)
    try:
        axis = int(str(value))
    except ValueError:
        raise UsageError(f"slice_axis must be 0, 1, 2 or auto, got '{value}'") from None
    if axis not in (0, 1, 2):
        raise UsageError(f"slice_axis must be 0, 1, 2 or auto, got '{value}'")
    return axis


def _as_items(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [item.strip() for item in value.replace("x", ",").split(",")]
    if isinstance(value, (int, float)):
        return [value]
    try:
        return list(value)
    except TypeError:
        return [value]


def parse_mri_scale(value: Any, slice_axis: int = DEFAULT_SLICE_AXIS) -> tuple[float, float, float]:
    """Per-voxel-axis upsampling factors from ``2``, ``"2"``, ``"2,2,1"`` or ``[1, 1, 3]``.

    One factor applies to the two axes other than ``slice_axis``; three
    factors apply to the voxel axes in order.  Every factor must be >= 1.
    """
    if slice_axis not in (0, 1, 2):
        raise UsageError(f"slice_axis must be 0, 1 or 2, got {slice_axis}")
    items = _as_items(value)
    if len(items) not in (1, 3):
        raise UsageError(f"scale must be one factor (in-plane) or three (sx,sy,sz), got '{value}'")
    try:
        factors = [float(item) for item in items]
    except (TypeError, ValueError):
        raise UsageError(f"scale must be numbers like 2 or 2,2,1, got '{value}'") from None
    if any(not f >= 1 or f == float("inf") for f in factors):
        raise UsageError(f"every scale factor must be a finite number >= 1, got '{value}'")
    if len(factors) == 1:
        return tuple(1.0 if axis == slice_axis else factors[0] for axis in range(3))  # type: ignore[return-value]
    return (factors[0], factors[1], factors[2])


def scaled_length(length: int, factor: float) -> int:
    """Samples along an axis of ``length`` voxels upsampled by ``factor`` (rounded)."""
    return max(1, int(length * factor + 0.5))


def output_shape(shape: Sequence[int], factors: Sequence[float]) -> tuple[int, ...]:
    """The spatial shape after upsampling ``shape`` by per-axis ``factors``."""
    return tuple(scaled_length(int(n), float(f)) for n, f in zip(shape, factors))
