"""Colour models and value ranges the plain round trips do not cover.

sBIT and tRNS in PNG, palette / MinIsWhite / CMYK / YCbCr / extra samples /
premultiplied alpha in TIFF, CMYK JPEG profiles, float images outside
[0, 1] in the diffusion methods, and alpha-weighted bicubic resizing.
"""
from __future__ import annotations

import io as bytes_io
from pathlib import Path

import numpy as np
import png
import pytest
import tifffile
from omegaconf import OmegaConf
from PIL import Image

from restore_core import api
from restore_core.errors import InputError
from restore_core.sample import Sample
from restore_image import io
from restore_image.bicubic import Bicubic, bicubic_resize
from restore_image.diffusion_methods import from_model_space, model_range, to_model_space


def make_array(shape: tuple[int, ...], dtype: type, seed: int = 0) -> np.ndarray:
    top = np.iinfo(dtype).max
    return np.random.default_rng(seed).integers(0, top, size=shape, endpoint=True).astype(dtype)


def as_sample(array: np.ndarray, **meta) -> Sample:
    return Sample(
        data=np.moveaxis(array, -1, 0).astype(np.float32),
        spatial_dims=2,
        source_dtype=array.dtype,
        meta={"has_alpha": array.shape[-1] in (2, 4), **meta},
    )


def pixels(sample: Sample) -> np.ndarray:
    return np.moveaxis(sample.data, 0, -1)


def insert_png_chunk(path: Path, kind: bytes, data: bytes) -> None:
    chunks = list(png.Reader(filename=str(path)).chunks())
    first_idat = next(i for i, (name, _) in enumerate(chunks) if name == b"IDAT")
    out = bytes_io.BytesIO()
    png.write_chunks(out, chunks[:first_idat] + [(kind, data)] + chunks[first_idat:])
    path.write_bytes(out.getvalue())


def bicubic_x2(sample: Sample) -> np.ndarray:
    return Bicubic().restore(sample, OmegaConf.create({"scale": 2}), None).data  # type: ignore[arg-type]


# --- PNG ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16bit_png_with_sbit_keeps_its_full_values(tmp_path, channels):
    array = make_array((6, 7, channels), np.uint16)
    path = tmp_path / "sbit.png"
    io.write_png(as_sample(array), path)
    insert_png_chunk(path, b"sBIT", bytes([12] * channels))
    sample = io.read_png(path)
    assert sample.source_dtype == np.uint16
    np.testing.assert_array_equal(pixels(sample), array)


@pytest.mark.parametrize("mode, key", [("L", 7), ("RGB", (1, 2, 3))])
def test_8bit_png_colour_key_becomes_alpha(tmp_path, mode, key):
    array = make_array((6, 7, 3), np.uint8) // 2 + 10  # never equal to the key
    colour = array if mode == "RGB" else array[:, :, :1]
    colour[1, 2] = key
    path = tmp_path / "key.png"
    Image.fromarray(colour[:, :, 0] if mode == "L" else colour).save(path, transparency=key)
    sample = io.read_png(path)
    assert sample.channels == colour.shape[2] + 1 and sample.meta["has_alpha"]
    alpha = sample.data[-1]
    assert alpha[1, 2] == 0 and np.delete(alpha.ravel(), 1 * 7 + 2).min() == 255
    np.testing.assert_array_equal(pixels(sample)[:, :, :-1], colour)


@pytest.mark.parametrize("bit_depth", [2, 4, 16])
def test_low_and_high_depth_grey_colour_key_becomes_alpha(tmp_path, bit_depth):
    top = 2**bit_depth - 1
    values = (np.arange(6 * 7).reshape(6, 7) % 4 * (top // 3)).astype(np.uint16 if bit_depth == 16 else np.uint8)
    path = tmp_path / "grey.png"
    writer = png.Writer(7, 6, greyscale=True, bitdepth=bit_depth, transparent=top // 3)
    with open(path, "wb") as handle:
        writer.write(handle, values)
    sample = io.read_png(path)
    assert sample.channels == 2
    np.testing.assert_array_equal(sample.data[1] == 0, values == top // 3)
    assert sample.data[0].max() == (255 if bit_depth < 16 else top)


# --- JPEG --------------------------------------------------------------------------------------------


def test_cmyk_jpeg_drops_its_cmyk_profile(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 12), (0, 60, 120, 10)).save(path, quality=95, icc_profile=b"a CMYK ICC profile")
    assert Image.open(path).info["icc_profile"] == b"a CMYK ICC profile"
    sample = io.read_jpeg(path)
    assert sample.channels == 3
    assert sample.meta["icc_profile"] is None and "CMYK" in sample.meta["icc_profile_dropped"]
    out = tmp_path / "out.jpg"
    io.write_jpeg(sample, out)
    assert Image.open(out).info.get("icc_profile") is None


# --- TIFF --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encode, dtype",
    [(lambda v: v * 257, np.uint8), (lambda v: v << 8, np.uint8), (lambda v: v * 211 + 7, np.uint16)],
    ids=["8bit-x257", "8bit-shifted", "16bit"],
)
def test_palette_tiff_is_expanded_to_rgb(tmp_path, encode, dtype):
    lut = make_array((256, 3), np.uint8, seed=1).astype(np.uint16)
    colormap = encode(lut.T).astype(np.uint16)
    index = make_array((6, 7), np.uint8, seed=2)
    path = tmp_path / "palette.tif"
    tifffile.imwrite(path, index, photometric="palette", colormap=colormap)
    sample = io.read_tiff(path)
    expected = colormap.T[index] >> 8 if dtype == np.uint8 else colormap.T[index]
    assert sample.source_dtype == dtype and sample.channels == 3
    np.testing.assert_array_equal(pixels(sample), expected)
    out = tmp_path / "out.tif"
    io.write_tiff(sample, out)
    with tifffile.TiffFile(out) as tif:
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.RGB
        np.testing.assert_array_equal(tif.asarray(), expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.bool_])
def test_miniswhite_tiff_is_inverted_to_minisblack(tmp_path, dtype):
    stored = make_array((6, 7), np.uint8) > 127 if dtype == np.bool_ else make_array((6, 7), dtype)
    path = tmp_path / "white.tif"
    tifffile.imwrite(path, stored, photometric="miniswhite")
    sample = io.read_tiff(path)
    expected = (~stored).astype(np.uint8) * 255 if dtype == np.bool_ else np.iinfo(dtype).max - stored
    np.testing.assert_array_equal(sample.data[0], expected)
    out = tmp_path / "out.tif"
    io.write_tiff(sample, out)
    with tifffile.TiffFile(out) as tif:
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.MINISBLACK
        np.testing.assert_array_equal(tif.asarray(), expected)


def test_miniswhite_tiff_keeps_its_alpha(tmp_path):
    stored = make_array((6, 7, 2), np.uint8)
    path = tmp_path / "white_alpha.tif"
    tifffile.imwrite(path, stored, photometric="miniswhite", extrasamples=["unassalpha"])
    sample = io.read_tiff(path)
    np.testing.assert_array_equal(sample.data[0], 255 - stored[:, :, 0])
    np.testing.assert_array_equal(sample.data[1], stored[:, :, 1])


@pytest.mark.parametrize(
    "kwargs, named",
    [
        ({"photometric": "separated"}, "CMYK"),
        ({"photometric": "rgb", "extrasamples": ["unspecified"]}, "UNSPECIFIED"),
    ],
)
def test_unsupported_tiff_colour_models_are_refused(tmp_path, kwargs, named):
    path = tmp_path / "bad.tif"
    tifffile.imwrite(path, make_array((6, 7, 4), np.uint8), **kwargs)
    with pytest.raises(InputError, match=named):
        io.read_tiff(path)


def test_raw_ycbcr_tiff_is_refused(tmp_path):
    path = tmp_path / "ycbcr.tif"
    tifffile.imwrite(path, make_array((6, 7, 3), np.uint8), photometric="rgb")
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tif.pages[0].tags["PhotometricInterpretation"].overwrite(6)
    with pytest.raises(InputError, match="YCBCR"):
        io.read_tiff(path)


def premultiplied_rgba(dtype: type = np.uint8) -> np.ndarray:
    array = make_array((6, 7, 4), dtype)
    alpha = array[:, :, 3:].astype(np.float64) / np.iinfo(dtype).max
    array[:, :, :3] = np.floor(array[:, :, :3] * alpha).astype(dtype)
    return array


def test_associated_alpha_tiff_keeps_its_kind(tmp_path):
    array = premultiplied_rgba()
    path = tmp_path / "assoc.tif"
    tifffile.imwrite(path, array, photometric="rgb", extrasamples=["assocalpha"])
    sample = io.read_tiff(path)
    assert sample.meta["alpha_type"] == io.ASSOCIATED_ALPHA
    out = tmp_path / "out.tif"
    io.write_tiff(sample, out)
    with tifffile.TiffFile(out) as tif:
        assert tif.pages[0].extrasamples == (tifffile.EXTRASAMPLE.ASSOCALPHA,)
        np.testing.assert_array_equal(tif.asarray(), array)
    assert io.read_tiff(out).meta["alpha_type"] == io.ASSOCIATED_ALPHA


def test_associated_alpha_is_unpremultiplied_for_png(tmp_path):
    array = np.array([[[100, 50, 0, 128], [7, 7, 7, 0], [10, 20, 30, 255]]], np.uint8)
    out = tmp_path / "out.png"
    io.write_png(as_sample(array, alpha_type=io.ASSOCIATED_ALPHA), out)
    written = np.asarray(Image.open(out))
    np.testing.assert_array_equal(written[0, 0], [199, 100, 0, 128])  # 100 * 255 / 128 = 199.2
    np.testing.assert_array_equal(written[0, 1], [0, 0, 0, 0])
    np.testing.assert_array_equal(written[0, 2], array[0, 2])


def test_associated_alpha_colour_is_resized_as_it_is():
    array = premultiplied_rgba()
    result = bicubic_x2(as_sample(array, alpha_type=io.ASSOCIATED_ALPHA))
    direct = bicubic_resize(np.moveaxis(array, -1, 0).astype(np.float32), (12, 14), (0.0, 255.0))
    np.testing.assert_allclose(result, direct, atol=1e-4)


# --- alpha-weighted bicubic --------------------------------------------------------------------------


def test_colour_under_transparent_pixels_does_not_bleed():
    array = np.zeros((12, 16, 4), np.uint8)
    array[:, :8] = (100, 150, 200, 255)  # opaque
    array[:, 8:] = (255, 0, 255, 0)  # transparent, garbage colour
    result = bicubic_x2(as_sample(array))
    visible = result[3] >= 0.5  # non-zero alpha once written as uint8
    assert visible[:, 16:].any(), "the alpha edge must spread into the old transparent side"
    for channel, value in enumerate((100, 150, 200)):
        np.testing.assert_allclose(result[channel][visible], value, atol=0.5)
    # far from the edge, the colour of invisible pixels is kept as plain bicubic gives it
    np.testing.assert_allclose(result[:3, :, -4:].reshape(3, -1).T, [[255, 0, 255]] * (24 * 4), atol=1e-3)


def test_opaque_rgba_resizes_like_rgb(rgb8):
    rgba = np.concatenate([rgb8, np.full(rgb8.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    np.testing.assert_allclose(bicubic_x2(as_sample(rgba))[:3], bicubic_x2(as_sample(rgb8)), atol=1e-3)


# --- float images ------------------------------------------------------------------------------------


def float_tiff(tmp_path: Path, channels: int) -> Path:
    y, x = np.mgrid[0:8, 0:10]
    array = np.stack([x * 100.0 + y * 3, y * 120.0, (x + y) * 55.0][:channels], axis=-1).astype(np.float32)
    path = tmp_path / "float.tif"
    tifffile.imwrite(path, array if channels == 3 else array[:, :, 0], photometric="rgb" if channels == 3 else "minisblack")
    return path


@pytest.mark.parametrize("channels", [1, 3])
def test_float_image_beyond_one_survives_the_model_space(tmp_path, channels):
    sample = io.read_tiff(float_tiff(tmp_path, channels))
    assert sample.source_dtype == np.float32 and sample.data.max() > 900
    bounds = model_range(sample.data, sample.source_dtype)
    assert bounds == (0.0, float(sample.data.max()))
    x = to_model_space(sample.data, sample.source_dtype, bounds)
    assert x.shape == (1, 3, 8, 10) and float(x.min()) == -1.0 and float(x.max()) == 1.0
    back = from_model_space(x, channels, sample.source_dtype, bounds)
    np.testing.assert_allclose(back, sample.data, rtol=1e-5, atol=1e-3)


def test_model_range_keeps_white_levels_of_integers_and_unit_floats():
    assert model_range(np.full((1, 2, 2), 7.0), np.dtype(np.uint16)) == (0.0, 65535.0)
    assert model_range(np.full((1, 2, 2), 7.0), np.dtype(np.uint8)) == (0.0, 255.0)
    assert model_range(np.array([[[0.2, 0.8]]]), np.dtype(np.float32)) == (0.0, 1.0)
    assert model_range(np.array([[[-0.5, 0.3]]]), np.dtype(np.float32)) == (-0.5, 1.0)


def test_float_image_beyond_one_is_not_clipped_by_bicubic(tmp_path):
    src = float_tiff(tmp_path, 3)
    out = api.restore(src, plugin="image", method="bicubic", scale=2, output=tmp_path / "out.tif")[0]
    result = tifffile.imread(out)
    assert result.dtype == np.float32 and result.max() > 900
    expected = bicubic_resize(np.moveaxis(tifffile.imread(src), -1, 0), (16, 20), None)
    np.testing.assert_allclose(np.moveaxis(result, -1, 0), expected, rtol=1e-6, atol=1e-3)


def test_writer_refusals_come_before_any_work_and_name_the_target(tmp_path, capsys):
    from restore_core.cli import main

    src = tmp_path / "rgba.png"
    Image.fromarray(np.zeros((8, 8, 4), np.uint8)).save(src)
    called = []
    import restore_image.bicubic as bicubic

    original = bicubic.Bicubic.restore
    bicubic.Bicubic.restore = lambda self, *a: called.append(1) or original(self, *a)  # type: ignore[method-assign]
    try:
        assert main(["--plugin", "image", "--method", "bicubic", str(src), "-o", str(tmp_path / "out.jpg"), "--scale", "2"]) == 2
    finally:
        bicubic.Bicubic.restore = original  # type: ignore[method-assign]
    err = capsys.readouterr().err
    assert "out.jpg" in err and "alpha" in err and ".tmp" not in err
    assert not called and not (tmp_path / "out.jpg").exists()
