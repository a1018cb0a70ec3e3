"""Where a NIfTI voxel grid sits in world space, and how upsampling moves it.

Upsampling voxel axis ``a`` by ``f_a`` maps new voxel index ``j`` to old
(fractional) index ``i = j / f_a + c_a``, so the new voxel-to-world affine is
``A_new = A_old @ M`` with ``M = [[diag(1/f), c], [0, 1]]``: the affine's
columns are divided by their factor and the origin moves by ``A_old[:3,:3] c``.

``c`` depends on how the new samples are placed:

* ``alignment="kspace"`` (default; Fourier/zero-filled resampling): the DFT
  samples positions ``n/N`` of one period, the zero-filled DFT ``m/(fN)``, so
  the two grids coincide at voxel 0 and ``c = 0``: the world position of voxel
  0 stays (and so does that of the FOV centre, voxel ``N/2``).
* ``alignment="centre"`` (interpolation that keeps the outer voxel *edges*,
  e.g. ``align_corners=False``): new voxel centres sit at
  ``(j + 1/2)/f - 1/2``, so ``c = (1/f - 1)/2`` voxel.

The same ``M`` applies to the qform and the sform, so both keep their codes
and stay consistent; voxel sizes (zooms) are divided by the factors.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

ALIGNMENTS = ("kspace", "centre")


def grid_transform(factors: Sequence[float], alignment: str = "kspace") -> np.ndarray:
    """The 4x4 matrix ``M`` taking new voxel indices to old ones (see module docstring)."""
    if alignment not in ALIGNMENTS:
        raise ValueError(f"alignment must be one of {ALIGNMENTS}, got '{alignment}'")
    f = np.asarray(factors, dtype=np.float64)
    if f.shape != (3,) or np.any(f <= 0):
        raise ValueError(f"need three positive factors, got {tuple(factors)}")
    M = np.eye(4)
    M[:3, :3] = np.diag(1.0 / f)
    if alignment == "centre":
        M[:3, 3] = (1.0 / f - 1.0) / 2.0
    return M


@dataclass(frozen=True, eq=False)
class NiftiGeometry:
    """The spatial part of a NIfTI header: both affines with codes, voxel size, units.

    ``affine`` is nibabel's best affine (sform if its code > 0, else qform,
    else the Analyze-style base affine).  Everything else in the header
    (description, intent, dim_info, TR...) travels in ``Sample.meta``.
    """

    affine: np.ndarray
    qform: np.ndarray
    qform_code: int
    sform: np.ndarray
    sform_code: int
    zooms: tuple[float, float, float]
    xyz_unit: str = "unknown"
    t_unit: str = "unknown"
    alignment: str = "kspace"

    @classmethod
    def from_header(cls, header: Any, affine: np.ndarray) -> "NiftiGeometry":
        """Read the geometry from a nibabel NIfTI-1/2 header (``affine`` = ``img.affine``)."""
        zooms = tuple(float(z) for z in header.get_zooms()[:3])
        zooms = zooms + (1.0,) * (3 - len(zooms))
        xyz_unit, t_unit = header.get_xyzt_units()
        return cls(
            affine=np.array(affine, dtype=np.float64),
            qform=np.array(header.get_qform(), dtype=np.float64),
            qform_code=int(header["qform_code"]),
            sform=np.array(header.get_sform(), dtype=np.float64),
            sform_code=int(header["sform_code"]),
            zooms=zooms,  # type: ignore[arg-type]
            xyz_unit=str(xyz_unit),
            t_unit=str(t_unit),
        )

    def with_alignment(self, alignment: str) -> "NiftiGeometry":
        """The same geometry, with ``scaled`` placing new samples as ``alignment`` says."""
        if alignment not in ALIGNMENTS:
            raise ValueError(f"alignment must be one of {ALIGNMENTS}, got '{alignment}'")
        return dataclasses.replace(self, alignment=alignment)

    def scaled(self, factors: Sequence[float]) -> "NiftiGeometry":
        """The geometry of the same field of view sampled ``factors`` times denser per voxel axis."""
        M = grid_transform(factors, self.alignment)
        zooms = tuple(float(z) / float(f) for z, f in zip(self.zooms, factors))
        return dataclasses.replace(
            self,
            affine=self.affine @ M,
            qform=self.qform @ M,
            sform=self.sform @ M,
            zooms=zooms,  # type: ignore[arg-type]
        )

    def world(self, ijk: Sequence[float]) -> np.ndarray:
        """World coordinates (scanner/template mm) of a voxel index."""
        return (self.affine @ np.array([*ijk, 1.0], dtype=np.float64))[:3]

    def __eq__(self, other: object) -> bool:  # numpy arrays make the generated __eq__ ambiguous
        if not isinstance(other, NiftiGeometry):
            return NotImplemented
        arrays = all(np.array_equal(getattr(self, n), getattr(other, n)) for n in ("affine", "qform", "sform"))
        rest = ("qform_code", "sform_code", "zooms", "xyz_unit", "t_unit", "alignment")
        return arrays and all(getattr(self, n) == getattr(other, n) for n in rest)
