"""Interpret the ``scale`` setting for 2D images."""
from __future__ import annotations

from typing import Any

from restore_core.errors import UsageError


def parse_scale(value: Any) -> float:
    """One positive factor for both axes (``2``, ``"4"``, ``2.5``)."""
    try:
        scale = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"scale must be a number for images, got '{value}'") from None
    if not scale >= 1:
        raise UsageError(f"scale must be at least 1, got {value}")
    return scale


def output_shape(shape: tuple[int, ...], scale: float) -> tuple[int, ...]:
    return tuple(max(1, int(round(s * scale))) for s in shape)
