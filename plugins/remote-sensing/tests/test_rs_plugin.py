"""The plugin as the core sees it, and a real Landsat-like crop end to end."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from rasterio.enums import ColorInterp
from rasterio.transform import Affine
from rasterio.windows import Window

from restore_core.api import prepare, restore
from restore_core.plugins import require_plugin
from restore_remote_sensing.bicubic import bicubic_upsample


def test_registration_is_light_and_complete():
    record = require_plugin("remote-sensing")
    summary = record.summary()
    assert summary["default_method"] == "dmdc"
    assert {".tif", ".tiff", ".vrt"} <= set(summary["reads"]) and summary["writes"] == [".tif", ".tiff"]
    _, cfg = prepare("remote-sensing", "bicubic")
    assert cfg.tiling.halo == 2 and cfg.bands.rgb == "auto" and cfg.cog is False


@pytest.mark.parametrize("flags, expected", [({}, "dmdc"), ({"scale": 4}, "dmdc"), ({"scale": 2}, "bicubic"), ({"scale": 3}, "bicubic")])
def test_the_default_method_is_the_diffusion_model_at_its_scale_and_bicubic_elsewhere(flags, expected):
    """`restore --plugin remote-sensing tile.tif` runs DMDC (trained for ×4); other scales fall back to bicubic."""
    _, cfg = prepare("remote-sensing", None, flags=flags)
    assert cfg.method == expected
    _, cfg = prepare("remote-sensing", None, overrides=[f"scale={flags.get('scale', 4)}"])
    assert cfg.method == expected


def test_hook_module_imports_nothing_heavy():
    import subprocess

    code = "import sys, restore_remote_sensing.plugin; print(any(m in sys.modules for m in ('rasterio', 'torch')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_real_rgbn_crop_is_restored_faithfully(tmp_path, shared_data, read_raster):
    """64x64 of the shared 4-band 5 m scene through the CLI path: metadata kept, values = bicubic."""
    import rasterio

    source = shared_data / "rgbn.tif"
    if not source.exists():
        pytest.skip("shared remote-sensing data not available")
    crop = tmp_path / "rgbn_crop.tif"
    with rasterio.open(source) as ds:
        window = Window(200, 150, 64, 64)
        profile = {**ds.profile, "width": 64, "height": 64, "transform": ds.window_transform(window)}
        profile.update(photometric="RGB", alpha="UNSPECIFIED")  # band 4 is NIR, not alpha
        data = ds.read(window=window)
        with warnings.catch_warnings(), rasterio.open(crop, "w", **profile) as out:
            warnings.simplefilter("ignore")
            out.write(data)
            out.colorinterp = ds.colorinterp
            out.update_tags(**ds.tags())
    restore(crop, plugin="remote-sensing", method="bicubic", output=tmp_path / "x4.tif", scale=4, overrides=["tiling.tile=24"])
    result, meta = read_raster(tmp_path / "x4.tif")
    _, original = read_raster(crop)
    assert meta["shape"] == (4, 256, 256) and meta["dtype"] == "uint8"
    assert meta["crs"] == original["crs"] and meta["transform"].a == 1.25 and meta["bounds"] == original["bounds"]
    assert list(meta["colorinterp"]) == list(original["colorinterp"])
    assert original["colorinterp"][3] == ColorInterp.undefined
    expected = np.rint(bicubic_upsample(data.astype(np.float32), 4, (0, 255)))
    assert np.abs(result.astype(float) - expected).max() <= 1


@pytest.mark.parametrize("method, tolerance", [("dmdc", 0.05), ("ddsr", 0.1)])
def test_shipped_checkpoints_restore_the_sample_tile(method, tolerance, tmp_path, read_raster):
    """The shipped DMDC/DDSR weights on the shipped held-out tile: georeferenced ×4 uint16, consistent with its input."""
    sample = Path(__file__).resolve().parents[3] / "samples" / "remote-sensing" / "landsat_val_96.tif"
    out = restore(sample, plugin="remote-sensing", method=method, output=tmp_path / "sample_x4.tif",
                  overrides=["sampler.steps=2", "tiling.tile=96"])[0]
    restored, meta = read_raster(out)
    source, source_meta = read_raster(sample)
    assert restored.shape == (3, 384, 384) and meta["dtype"] == "uint16" and meta["crs"] == source_meta["crs"]
    assert meta["transform"] == source_meta["transform"] @ Affine.scale(0.25)
    lr = torch.nn.functional.avg_pool2d(torch.from_numpy(restored.astype(np.float32))[None], 4)[0].numpy()
    assert np.abs(lr - source).mean() < tolerance * (source.max() - source.min())
