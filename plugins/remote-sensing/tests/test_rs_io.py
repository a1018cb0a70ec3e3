"""Raster I/O: geometry, dtypes, metadata, nodata, masks, COG, CRS-less and rotated grids."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from rasterio.control import GroundControlPoint
from rasterio.enums import ColorInterp
from rasterio.transform import Affine

from restore_core.api import restore
from restore_core.sample import dtype_range
from restore_remote_sensing.bicubic import bicubic_upsample

SMALL = ["io.blocksize=32", "tiling.tile=16", "tiling.overlap=4", "tiling.halo=2"]


def run(source, target, scale=2, extra=()):
    return restore(source, plugin="remote-sensing", output=target, scale=scale, overrides=[*SMALL, *extra])


@pytest.mark.parametrize("scale", [2, 3])
def test_same_bounds_and_crs_pixel_size_divided_by_scale(tmp_path, make_raster, read_raster, smooth, scale):
    src = make_raster(tmp_path / "scene.tif", smooth(2, 20, 28))
    run(src, tmp_path / "out.tif", scale)
    _, a = read_raster(src)
    _, b = read_raster(tmp_path / "out.tif")
    assert b["crs"] == a["crs"]
    assert b["transform"] == a["transform"] @ Affine.scale(1 / scale)
    assert b["shape"] == (2, 20 * scale, 28 * scale)
    np.testing.assert_allclose(tuple(b["bounds"]), tuple(a["bounds"]), atol=1e-6)
    assert (b["transform"].c, b["transform"].f) == (a["transform"].c, a["transform"].f)  # same upper-left corner


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "float32"])
def test_dtype_kept_and_values_are_clipped_bicubic(tmp_path, make_raster, read_raster, smooth, dtype):
    data = smooth(3, 24, 24, dtype)
    src = make_raster(tmp_path / "scene.tif", data)
    run(src, tmp_path / "out.tif")
    out, meta = read_raster(tmp_path / "out.tif")
    assert meta["dtype"] == dtype
    expected = bicubic_upsample(data.astype(np.float32), 2, dtype_range(dtype))
    if dtype != "float32":
        expected = np.rint(expected)
    np.testing.assert_allclose(out.astype(np.float64), expected, atol=1e-4 if dtype == "float32" else 1.0)


def test_band_metadata_tags_and_nodata_are_kept_in_a_tiled_compressed_file(tmp_path, make_raster, read_raster, smooth):
    interp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.undefined]
    src = make_raster(
        tmp_path / "scene.tif", smooth(4, 20, 20), nodata=0, descriptions=["red", "green", "blue", "nir"],
        colorinterp=interp, tags={"SENSOR": "PlanetScope", "ACQUIRED": "2020-05-18"},
        band_tags=[{}, {}, {}, {"WAVELENGTH": "842nm"}], photometric="RGB",
    )
    run(src, tmp_path / "out.tif")
    _, meta = read_raster(tmp_path / "out.tif")
    assert meta["descriptions"] == ("red", "green", "blue", "nir")
    assert list(meta["colorinterp"]) == interp
    assert meta["tags"]["SENSOR"] == "PlanetScope" and meta["tags"]["ACQUIRED"] == "2020-05-18"
    assert meta["band_tags"][3]["WAVELENGTH"] == "842nm"
    assert meta["nodata"] == 0
    assert meta["block_shape"] == (32, 32) and meta["compression"].name == "deflate"
    assert not list(tmp_path.glob("*.aux.xml"))  # everything inside the file


def test_cog_true_writes_a_cloud_optimized_geotiff_with_overviews(tmp_path, make_raster, read_raster, smooth):
    src = make_raster(tmp_path / "scene.tif", smooth(2, 64, 64), nodata=0, descriptions=["a", "b"])
    run(src, tmp_path / "out.tif", extra=["cog=true"])
    out, meta = read_raster(tmp_path / "out.tif")
    assert meta["layout"] == "COG"
    assert meta["overviews"]  # 128 px at 32 px blocks: overview levels exist
    assert meta["descriptions"] == ("a", "b") and meta["nodata"] == 0 and meta["block_shape"] == (32, 32)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif", "out.tif.yaml", "scene.tif"]  # no intermediate left


def test_nodata_is_written_back_where_the_source_was_nodata(tmp_path, make_raster, read_raster, smooth):
    data = smooth(2, 24, 24, "int16")
    data[:, 5:12, 3:9] = -9999
    src = make_raster(tmp_path / "scene.tif", data, nodata=-9999)
    run(src, tmp_path / "out.tif")
    out, meta = read_raster(tmp_path / "out.tif")
    expected_nodata = (data == -9999).repeat(2, axis=1).repeat(2, axis=2)
    np.testing.assert_array_equal(out == -9999, expected_nodata)
    assert out[~expected_nodata].min() >= data[data != -9999].min() - 50  # no dip toward -9999 at the hole's edge


def test_an_internal_mask_band_is_kept(tmp_path, make_raster, read_raster, smooth):
    mask = np.ones((20, 20), bool)
    mask[:6, :6] = False
    src = make_raster(tmp_path / "scene.tif", smooth(1, 20, 20, "uint8"), mask=mask)
    run(src, tmp_path / "out.tif")
    _, meta = read_raster(tmp_path / "out.tif")
    np.testing.assert_array_equal(meta["masks"][0] > 0, mask.repeat(2, axis=0).repeat(2, axis=1))


def test_a_missing_crs_warns_once_and_keeps_the_pixel_grid(tmp_path, make_raster, read_raster, smooth, run_cli):
    src = make_raster(tmp_path / "scene.tif", smooth(1, 16, 16), crs=None)
    code, err = run_cli(src, "-o", tmp_path / "out.tif", "--scale", "2", *SMALL)
    warnings = [line for line in err.splitlines() if line.strip()]
    assert code == 0 and len(warnings) == 1 and "no CRS" in warnings[0] and warnings[0].startswith("restore: warning:")
    _, meta = read_raster(tmp_path / "out.tif")
    assert meta["crs"] is None and meta["transform"] == Affine(*[2.5, 0, 792988.0, 0, -2.5, 2050382.0])


def test_a_raster_without_georeferencing_stays_without(tmp_path, make_raster, read_raster, smooth, run_cli):
    src = make_raster(tmp_path / "plain.tif", smooth(1, 16, 16), crs=None, transform=Affine.identity())
    code, err = run_cli(src, "-o", tmp_path / "out.tif", "--scale", "2", *SMALL)
    assert code == 0 and "no CRS" in err
    _, meta = read_raster(tmp_path / "out.tif")
    assert meta["transform"].is_identity and meta["shape"] == (1, 32, 32)


def test_a_rotated_geotransform_is_handled_exactly(tmp_path, make_raster, read_raster, smooth):
    rotated = Affine(4.0, 1.5, 500000.0, 1.0, -4.0, 4000000.0)
    src = make_raster(tmp_path / "rotated.tif", smooth(1, 16, 20), transform=rotated)
    run(src, tmp_path / "out.tif", scale=4)
    _, meta = read_raster(tmp_path / "out.tif")
    out = meta["transform"]
    assert out == rotated @ Affine.scale(0.25)
    for col, row in [(0, 0), (20, 0), (0, 16), (20, 16)]:  # the four corners are the same world points
        np.testing.assert_allclose(out @ (col * 4, row * 4), rotated @ (col, row), atol=1e-6)


def test_gcps_are_kept_at_scaled_pixel_positions(tmp_path, make_raster, read_raster, smooth):
    gcps = [GroundControlPoint(row=0, col=0, x=10.0, y=50.0), GroundControlPoint(row=16, col=16, x=10.1, y=49.9)]
    src = make_raster(tmp_path / "gcp.tif", smooth(1, 16, 16), crs=None, transform=Affine.identity())
    import rasterio

    with warnings.catch_warnings(), rasterio.open(src, "r+") as ds:
        warnings.simplefilter("ignore")
        ds.gcps = (gcps, "EPSG:4326")
    run(src, tmp_path / "out.tif")
    _, meta = read_raster(tmp_path / "out.tif")
    points, crs = meta["gcps"]
    assert crs == "EPSG:4326" and [(p.row, p.col, p.x) for p in points] == [(0, 0, 10.0), (32, 32, 10.1)]


def test_sample_reader_and_writer_round_trip(tmp_path, make_raster, read_raster, smooth):
    """The core's reader/writer hooks (used by restore eval) keep values, metadata and geometry."""
    from restore_core.api import prepare
    from restore_remote_sensing.raster_sample import read_raster as read_sample, write_raster

    data = smooth(2, 20, 20, "uint16")
    src = make_raster(tmp_path / "scene.tif", data, nodata=0, descriptions=["b1", "b2"])
    sample = read_sample(src)
    assert sample.source_dtype == np.uint16 and sample.data.dtype == np.float32
    _, cfg = prepare("remote-sensing", "bicubic")
    write_raster(sample, tmp_path / "copy.tif", cfg)
    out, meta = read_raster(tmp_path / "copy.tif")
    _, original = read_raster(src)
    np.testing.assert_array_equal(out, data)
    assert meta["transform"] == original["transform"] and meta["crs"] == original["crs"]
    assert meta["descriptions"] == ("b1", "b2") and meta["nodata"] == 0


def test_other_gdal_rasters_are_read_erdas_img_and_vrt(tmp_path, make_raster, read_raster, smooth):
    """Not only GeoTIFF: an ERDAS Imagine file, and a VRT (e.g. a mosaic of tiles) restored to GeoTIFF."""
    data = smooth(2, 16, 24, "int16")
    img = make_raster(tmp_path / "scene.img", data, driver="HFA", tiled=False, blockxsize=None, blockysize=None)
    make_raster(tmp_path / "base.tif", data)
    bands = "".join(
        f'<VRTRasterBand dataType="Int16" band="{b}"><SimpleSource><SourceFilename relativeToVRT="1">base.tif'
        f"</SourceFilename><SourceBand>{b}</SourceBand></SimpleSource></VRTRasterBand>"
        for b in (1, 2)
    )
    transform = ", ".join(str(v) for v in (792988.0, 5.0, 0.0, 2050382.0, 0.0, -5.0))
    (tmp_path / "scene.vrt").write_text(
        f'<VRTDataset rasterXSize="24" rasterYSize="16"><SRS>EPSG:32618</SRS>'
        f"<GeoTransform>{transform}</GeoTransform>{bands}</VRTDataset>"
    )
    for source in (img, tmp_path / "scene.vrt"):
        target = tmp_path / f"{source.stem}_{source.suffix[1:]}_x2.tif"
        restore(source, plugin="remote-sensing", output=target, scale=2, overrides=SMALL + ["mosaic.neighbours=false"])
        out, meta = read_raster(target)
        assert meta["shape"] == (2, 32, 48) and meta["dtype"] == "int16" and meta["transform"].a == 2.5
        expected = np.rint(bicubic_upsample(data.astype(np.float32), 2, dtype_range("int16")))
        assert np.abs(out - expected).max() <= 1
