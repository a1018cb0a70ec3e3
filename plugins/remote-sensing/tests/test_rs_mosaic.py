"""Folders and mosaics (issue 5, item 7): tiles restored separately abut and stay seamless."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from rasterio.transform import Affine

from restore_core.api import restore
from restore_remote_sensing.mosaic import mosaic_layout

# No halo and small windows: the result near a tile border depends on context across it.
TILING = ["tiling.tile=16", "tiling.overlap=4", "tiling.halo=0", "io.blocksize=16"]


def cut_mosaic(folder: Path, scene: np.ndarray, make_raster, split: int) -> tuple[Path, Path]:
    """Cut ``scene`` into a left and a right tile of one grid (overlap-free), as GeoTIFFs in ``folder``."""
    folder.mkdir()
    base = Affine(5.0, 0.0, 792988.0, 0.0, -5.0, 2050382.0)
    left = make_raster(folder / "tile_0_0.tif", np.ascontiguousarray(scene[:, :, :split]), transform=base)
    right = make_raster(
        folder / "tile_0_1.tif", np.ascontiguousarray(scene[:, :, split:]), transform=base @ Affine.translation(split, 0)
    )
    return left, right


def test_adjacent_tiles_abut_and_match_the_whole_scene(tmp_path, make_raster, read_raster, smooth):
    scene = smooth(2, 40, 72, "uint16")
    cut_mosaic(tmp_path / "tiles", scene, make_raster, split=40)
    whole = make_raster(tmp_path / "whole.tif", scene)
    written = restore(tmp_path / "tiles", plugin="remote-sensing", output=tmp_path / "out", scale=2, overrides=TILING)
    assert [p.name for p in written] == ["tile_0_0.tif", "tile_0_1.tif"]
    restore(whole, plugin="remote-sensing", output=tmp_path / "whole_x2.tif", scale=2, overrides=TILING)
    left, left_meta = read_raster(tmp_path / "out" / "tile_0_0.tif")
    right, right_meta = read_raster(tmp_path / "out" / "tile_0_1.tif")
    reference, _ = read_raster(tmp_path / "whole_x2.tif")
    # Geotransforms abut exactly: the left tile's right edge is the right tile's left edge.
    lt, rt = left_meta["transform"], right_meta["transform"]
    assert lt.c + left.shape[2] * lt.a == rt.c and lt.f == rt.f and (lt.a, lt.e) == (rt.a, rt.e)
    # Seamless: the two outputs side by side are the output of the whole scene.
    np.testing.assert_array_equal(np.concatenate([left, right], axis=2), reference)


def test_without_neighbours_a_tile_border_shows(tmp_path, make_raster, read_raster, smooth):
    """The documented limitation of mosaic.neighbours=false: each tile sees only itself."""
    scene = smooth(1, 32, 64, "uint16")
    cut_mosaic(tmp_path / "tiles", scene, make_raster, split=32)
    whole = make_raster(tmp_path / "whole.tif", scene)
    overrides = [*TILING, "mosaic.neighbours=false"]
    restore(tmp_path / "tiles", plugin="remote-sensing", output=tmp_path / "out", scale=2, overrides=overrides)
    restore(whole, plugin="remote-sensing", output=tmp_path / "whole_x2.tif", scale=2, overrides=TILING)
    left, _ = read_raster(tmp_path / "out" / "tile_0_0.tif")
    right, _ = read_raster(tmp_path / "out" / "tile_0_1.tif")
    reference, _ = read_raster(tmp_path / "whole_x2.tif")
    difference = np.abs(np.concatenate([left, right], axis=2).astype(float) - reference)
    assert difference[:, :, 62:66].max() > 1  # at the border...
    assert difference[:, 4:-4, 16:48].max() <= 1  # ...not inside the tiles


def test_mosaic_members_share_crs_grid_dtype_and_exclude_outputs(tmp_path, make_raster, smooth):
    from restore_remote_sensing.raster_io import inspect_raster
    from restore_remote_sensing.windowed import open_dataset

    left, right = cut_mosaic(tmp_path / "tiles", smooth(1, 16, 32), make_raster, split=16)
    folder = tmp_path / "tiles"
    base = Affine(5.0, 0.0, 792988.0, 0.0, -5.0, 2050382.0)
    make_raster(folder / "shifted.tif", smooth(1, 16, 16), transform=base @ Affine.translation(0.5, 16))
    make_raster(folder / "other_crs.tif", smooth(1, 16, 16), transform=base @ Affine.translation(0, 16), crs="EPSG:32619")
    make_raster(folder / "bytes.tif", smooth(1, 16, 16, "uint8"), transform=base @ Affine.translation(0, 16))
    make_raster(folder / "tile_0_1_restored.tif", smooth(1, 16, 16), transform=base @ Affine.translation(16, 0))
    make_raster(folder / "tile_1_0.tif", smooth(1, 16, 16), transform=base @ Affine.translation(0, 16))
    make_raster(folder / "other_date.tif", smooth(1, 16, 16), transform=base @ Affine.translation(20, 4))  # overlaps the input
    with open_dataset(right) as ds:
        info = inspect_raster(right, ds)
    layout = mosaic_layout(right, info, reach=8, exclude_suffix="_restored")
    assert layout.extent == (32, 32) and layout.primary == (0, 16)
    assert sorted((p.name, r, c) for p, r, c in layout.neighbours) == [("tile_0_0.tif", 0, 0), ("tile_1_0.tif", 16, 0)]
