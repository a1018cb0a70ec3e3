"""Bad inputs (issue 5, item 8): one clear line, exit code 2, no partial output."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SMALL = ["io.blocksize=32", "tiling.tile=16", "tiling.overlap=4"]


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("restore: error: ")
    return lines[0]


def only(folder: Path, *names: str) -> bool:
    return sorted(p.name for p in folder.iterdir()) == sorted(names)


def test_an_all_nodata_scene_is_refused(tmp_path, make_raster, run_cli):
    src = make_raster(tmp_path / "empty.tif", np.full((2, 24, 24), -9999, np.int16), nodata=-9999)
    code, err = run_cli(src, "-o", tmp_path / "out.tif", "--scale", "2", *SMALL)
    assert code == 2 and "every pixel is nodata" in error_line(err)
    assert only(tmp_path, "empty.tif")


def test_an_all_masked_scene_is_refused(tmp_path, make_raster, run_cli):
    src = make_raster(tmp_path / "masked.tif", np.ones((1, 16, 16), np.uint8), mask=np.zeros((16, 16), bool))
    code, err = run_cli(src, "-o", tmp_path / "out.tif", "--scale", "2", *SMALL)
    assert code == 2 and "every pixel is nodata" in error_line(err)
    assert only(tmp_path, "masked.tif")


def test_a_truncated_tiff_is_refused(tmp_path, make_raster, run_cli, smooth):
    full = make_raster(tmp_path / "full.tif", smooth(2, 64, 64), compress="deflate")
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    full.unlink()
    code, err = run_cli(truncated, "-o", tmp_path / "out.tif", "--scale", "2", *SMALL)
    line = error_line(err)
    assert code == 2 and "truncated.tif" in line and "corrupt or truncated" in line
    assert only(tmp_path, "truncated.tif")


def test_a_corrupt_tiff_is_refused(tmp_path, run_cli):
    corrupt = tmp_path / "corrupt.tif"
    corrupt.write_bytes(b"II*\x00" + bytes(range(256)) * 4)
    code, err = run_cli(corrupt, "-o", tmp_path / "out.tif", "--scale", "2")
    assert code == 2 and "cannot be read as a raster" in error_line(err)
    assert only(tmp_path, "corrupt.tif")


@pytest.mark.parametrize("dtype", ["complex64", "float64", "int32"])
def test_unsupported_dtypes_are_refused_with_a_hint(tmp_path, make_raster, run_cli, dtype):
    src = make_raster(tmp_path / "odd.tif", np.ones((1, 8, 8), dtype))
    code, err = run_cli(src, "-o", tmp_path / "out.tif", "--scale", "2")
    line = error_line(err)
    assert code == 2 and f"data type {dtype} is not supported" in line and "gdal_translate" in line
    assert only(tmp_path, "odd.tif")


def test_the_shared_float64_landsat_band_is_refused(tmp_path, run_cli, shared_data):
    real = shared_data / "LE07_L2SP_225078_20110306_02_T1_B1.tif"
    if not real.exists():
        pytest.skip("shared remote-sensing data not available")
    code, err = run_cli(real, "-o", tmp_path / "out.tif", "--scale", "2")
    assert code == 2 and "float64 is not supported" in error_line(err)
    assert only(tmp_path)


def test_a_fractional_scale_is_refused(tmp_path, make_raster, run_cli, smooth):
    src = make_raster(tmp_path / "scene.tif", smooth(1, 8, 8))
    code, err = run_cli(src, "-o", tmp_path / "out.tif", "--scale", "2.5")
    assert code == 2 and "whole number" in error_line(err)
    assert only(tmp_path, "scene.tif")


def test_a_bad_file_in_a_folder_does_not_stop_the_others(tmp_path, make_raster, run_cli, smooth):
    folder = tmp_path / "in"
    folder.mkdir()
    make_raster(folder / "a_good.tif", smooth(1, 16, 16))
    make_raster(folder / "b_empty.tif", np.zeros((1, 16, 16), np.uint16), nodata=0)
    code, err = run_cli(folder, "-o", tmp_path / "out", "--scale", "2", *SMALL)
    assert code == 2 and "b_empty.tif" in err and "every pixel is nodata" in err
    assert only(tmp_path / "out", "a_good.tif", "a_good.tif.yaml")
