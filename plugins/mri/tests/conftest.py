"""Fixtures of the mri plugin's tests: tiny NIfTI files with non-trivial geometry."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import nibabel as nib
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
MRI_DATA = REPO.parent / "shared" / "data" / "mri"


def oblique(zooms: tuple[float, float, float] = (0.9, 1.1, 3.0)) -> np.ndarray:
    """An LPS-ish oblique affine: rotated, flipped, anisotropic, with an offset origin."""
    angle = np.deg2rad(12.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    rotation = rotation @ np.diag([-1.0, -1.0, 1.0])  # radiological-style flips
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag(zooms)
    affine[:3, 3] = [91.5, 120.25, -40.0]
    return affine


@pytest.fixture
def oblique_affine() -> np.ndarray:
    return oblique()


@pytest.fixture
def smooth_volume() -> Callable[..., np.ndarray]:
    """Band-limited test volumes (sums of low-frequency cosines) of any shape, positive."""

    def make(shape: tuple[int, ...] = (12, 10, 4), seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        grids = np.meshgrid(*[np.arange(n) / n for n in shape[:3]], indexing="ij")
        volume = np.full(shape[:3], 100.0)
        for _ in range(4):
            k = rng.integers(0, 3, size=3)
            volume += 20 * rng.random() * np.cos(2 * np.pi * sum(ki * g for ki, g in zip(k, grids)) + rng.random())
        if len(shape) == 4:
            volume = np.stack([volume * (1 + 0.1 * t) for t in range(shape[3])], axis=-1)
        return volume.astype(np.float32)

    return make


@pytest.fixture
def make_nifti(tmp_path: Path) -> Callable[..., Path]:
    """Write ``data`` as a NIfTI file with a full, recognisable header; returns its path."""

    def write(data: np.ndarray, name: str = "vol.nii.gz", affine: np.ndarray | None = None,
              dtype: type | None = None, version: int = 1, **header_fields: object) -> Path:
        affine = oblique() if affine is None else affine
        image_class = nib.Nifti2Image if version == 2 else nib.Nifti1Image
        image = image_class(data if dtype is None else data.astype(dtype), affine)
        image.set_qform(affine, code=1)   # scanner
        image.set_sform(affine, code=4)   # MNI152
        image.header.set_xyzt_units("mm", "msec")
        image.header["descrip"] = b"restore test volume"
        image.header.set_dim_info(freq=0, phase=1, slice=2)
        if data.ndim == 4:
            image.header.set_zooms(tuple(image.header.get_zooms()[:3]) + (2500.0,))
        for key, value in header_fields.items():
            image.header[key] = value
        path = tmp_path / name
        nib.save(image, str(path))
        return path

    return write


@pytest.fixture(scope="session")
def mri_data() -> Path:
    if not MRI_DATA.is_dir():
        pytest.skip(f"shared MRI data not found at {MRI_DATA}")
    return MRI_DATA
