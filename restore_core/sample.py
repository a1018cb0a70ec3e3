"""The unit of data that flows from a reader, through a method, to a writer."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np


def dtype_range(dtype: Any) -> tuple[float, float] | None:
    """The representable range of an integer dtype (``(0, 255)``, ``(-32768, 32767)``...); None for floats."""
    kind = np.dtype(dtype)
    if kind.kind in "ui":
        info = np.iinfo(kind)
        return float(info.min), float(info.max)
    return None


class Geometry(Protocol):
    """Where the pixel grid sits in the world (NIfTI affine, GeoTIFF transform...)."""

    def scaled(self, factors: Sequence[float]) -> "Geometry":
        """Return the geometry of the same field of view sampled ``factors`` times denser."""


@dataclass
class Sample:
    """An image or volume with everything needed to write it back faithfully.

    ``data`` is channels-first, ``(C, *spatial)``, float32, in the input's own
    units.  ``geometry`` is changed in exactly one place, :meth:`resampled`, the
    step that changes the pixel grid; ``meta`` is format-specific and carried
    unchanged (EXIF, ICC profile, header fields...).
    """

    data: np.ndarray
    spatial_dims: int
    source_dtype: np.dtype
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    geometry: Geometry | None = None

    @property
    def channels(self) -> int:
        return int(self.data.shape[0])

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.data.shape[1:])

    def resampled(self, data: np.ndarray) -> "Sample":
        """Return a copy holding ``data`` on a new grid; geometry follows the scale."""
        if data.ndim != self.data.ndim:
            raise ValueError(f"rank changed from {self.data.ndim} to {data.ndim}")
        factors = tuple(n / o for n, o in zip(data.shape[1:], self.data.shape[1:]))
        geometry = self.geometry.scaled(factors) if self.geometry is not None else None
        return dataclasses.replace(self, data=data, geometry=geometry)
