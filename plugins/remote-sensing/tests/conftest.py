"""Fixtures of the remote-sensing plugin's tests: tiny rasters written with rasterio."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from restore_core.testing import tiny_overrides as tiny_engine_overrides

SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "remote-sensing"
UTM_TRANSFORM = (5.0, 0.0, 792988.0, 0.0, -5.0, 2050382.0)  # rgbn.tif's grid (EPSG:32618, 5 m)


@pytest.fixture
def shared_data() -> Path:
    """../shared/data/remote-sensing relative to the repository (tests may read it; the product never does)."""
    return SHARED_DATA


@pytest.fixture
def make_raster() -> Callable[..., Path]:
    """Write ``data`` (C, H, W) as a small tiled GeoTIFF; keyword arguments override the profile.

    Extra keywords: ``descriptions``, ``colorinterp``, ``tags``, ``band_tags``, ``mask`` (H, W) bool.
    """
    import rasterio
    from rasterio.transform import Affine

    def make(path: Path, data: np.ndarray, **options: Any) -> Path:
        extras = {k: options.pop(k) for k in ("descriptions", "colorinterp", "tags", "band_tags", "mask") if k in options}
        profile = {
            "driver": "GTiff", "height": data.shape[1], "width": data.shape[2], "count": data.shape[0],
            "dtype": data.dtype.name, "crs": "EPSG:32618", "transform": Affine(*UTM_TRANSFORM),
            "tiled": True, "blockxsize": 16, "blockysize": 16,
        }
        profile.update(options)
        with warnings.catch_warnings(), rasterio.Env(GDAL_TIFF_INTERNAL_MASK="YES"):
            warnings.simplefilter("ignore")
            with rasterio.open(path, "w", **profile) as dst:
                dst.write(data)
                for band, text in enumerate(extras.get("descriptions", ()), start=1):
                    dst.set_band_description(band, text)
                if "colorinterp" in extras:
                    dst.colorinterp = extras["colorinterp"]
                if "tags" in extras:
                    dst.update_tags(**extras["tags"])
                for band, tags in enumerate(extras.get("band_tags", ()), start=1):
                    dst.update_tags(band, **tags)
                if "mask" in extras:
                    dst.write_mask(np.where(extras["mask"], 255, 0).astype(np.uint8))
        return path

    return make


@pytest.fixture
def smooth() -> Callable[..., np.ndarray]:
    """A smooth-plus-texture test scene (C, H, W) in ``dtype``, reproducible."""

    def scene(bands: int = 3, height: int = 40, width: int = 48, dtype: str = "uint16", seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        y, x = np.mgrid[0:height, 0:width].astype(np.float64)
        layers = [np.sin(x / (5 + b)) * np.cos(y / (7 + b)) + 0.3 * rng.standard_normal((height, width)) for b in range(bands)]
        unit = (np.stack(layers) + 2.0) / 4.0  # about [0, 1]
        if np.dtype(dtype).kind in "ui":
            info = np.iinfo(dtype)
            low, high = (max(info.min, -2000), min(info.max, 4000)) if info.min < 0 else (10, min(info.max, 4000) - 10)
            return np.clip(low + unit * (high - low), info.min, info.max).astype(dtype)
        return (unit * 0.5 - 0.1).astype(dtype)

    return scene


def read(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Data and metadata of a raster."""
    import rasterio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path) as ds:
            meta = {
                "transform": ds.transform, "crs": ds.crs, "dtype": ds.dtypes[0], "nodata": ds.nodata,
                "descriptions": ds.descriptions, "colorinterp": ds.colorinterp, "tags": ds.tags(),
                "band_tags": [ds.tags(b) for b in range(1, ds.count + 1)], "block_shape": ds.block_shapes[0],
                "compression": ds.compression, "overviews": ds.overviews(1), "bounds": ds.bounds,
                "shape": (ds.count, ds.height, ds.width), "masks": ds.read_masks(), "mask_flags": ds.mask_flag_enums,
                "layout": ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT"), "gcps": ds.gcps,
            }
            return ds.read(), meta


@pytest.fixture
def read_raster() -> Callable[[Path], tuple[np.ndarray, dict[str, Any]]]:
    return read


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str]]:
    """Run ``restore --plugin remote-sensing ARGS --quiet``; returns (exit code, stderr)."""
    from restore_core.cli import main

    def run(*args: str) -> tuple[int, str]:
        code = main(["--plugin", "remote-sensing", *map(str, args), "--quiet"])
        return code, capsys.readouterr().err

    return run


# -- tiny diffusion models (DMDC, DDSR) -------------------------------------------------------------

TINY_WINDOWS = ("sampler.steps=2", "tiling.tile=16", "tiling.halo=2")
TINY_KERNEL = ("model.kernel.pca_samples=200", "model.kernel.predictor_width=8")


def _tiny(method: str) -> list[str]:
    ddsr = method == "ddsr"
    return tiny_engine_overrides(*TINY_WINDOWS, *(TINY_KERNEL if ddsr else ()), encoder=ddsr)


@pytest.fixture(scope="session")
def tiny_overrides() -> Callable[[str], list[str]]:
    """``tiny_overrides(method)``: config overrides that make a DMDC/DDSR model of a few thousand parameters."""
    return _tiny


@pytest.fixture(scope="session")
def rs_train_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two small RGB uint16 GeoTIFFs to train tiny models on."""
    import rasterio
    from rasterio.enums import ColorInterp
    from rasterio.transform import Affine

    folder = tmp_path_factory.mktemp("rs_train")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:40, 0:48].astype(np.float64)
    for index in range(2):
        layers = [np.sin(x / (4 + index + b)) * np.cos(y / (5 + b)) + 0.2 * rng.standard_normal(x.shape) for b in range(3)]
        data = (6000 + 1500 * np.stack(layers)).clip(0, 65535).astype(np.uint16)
        profile = {"driver": "GTiff", "height": 40, "width": 48, "count": 3, "dtype": "uint16", "crs": "EPSG:32618",
                   "transform": Affine(*UTM_TRANSFORM)}
        with warnings.catch_warnings(), rasterio.open(folder / f"t{index}.tif", "w", **profile) as dst:
            warnings.simplefilter("ignore")
            dst.write(data)
            dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]
    return folder


@pytest.fixture(scope="session")
def tiny_checkpoints(rs_train_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny DMDC and DDSR checkpoints trained for 2 steps (seconds)."""
    from restore_core import api

    out = tmp_path_factory.mktemp("rs_runs")
    return {
        method: api.train("remote-sensing", method, data=rs_train_folder, output_dir=out / method,
                          overrides=_tiny(method), steps=2, device="cpu")
        for method in ("dmdc", "ddsr")
    }
