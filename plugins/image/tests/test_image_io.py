"""The image plugin's I/O: bit depths, channel layouts, EXIF orientation, ICC, alpha."""
from __future__ import annotations


import numpy as np
import png
import pytest
import tifffile
from PIL import Image, ImageCms, ImageOps

from restore_core.cli import main
from restore_core.sample import Sample
from restore_image import io
from restore_image.alpha import restore_colour_keep_alpha

CHANNELS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def make_array(channels: int, dtype: type, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    return rng.integers(0, top, size=(12, 17, channels), dtype=np.int64, endpoint=True).astype(dtype)


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def as_sample(array: np.ndarray, **meta) -> Sample:
    return Sample(
        data=np.moveaxis(array, -1, 0).astype(np.float32),
        spatial_dims=2,
        source_dtype=array.dtype,
        meta={"has_alpha": array.shape[-1] in (2, 4), **meta},
    )


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_lossless_round_trip(tmp_path, channels, dtype, ext):
    array = make_array(channels, dtype)
    path = tmp_path / f"img{ext}"
    writer = io.write_png if ext == ".png" else io.write_tiff
    writer(as_sample(array), path)
    reader = io.read_png if ext == ".png" else io.read_tiff
    sample = reader(path)
    assert sample.source_dtype == dtype
    assert sample.meta["has_alpha"] == (channels in (2, 4))
    np.testing.assert_array_equal(np.moveaxis(sample.data, 0, -1), array)


def test_16bit_colour_png_is_not_truncated(tmp_path):
    array = make_array(3, np.uint16)
    path = tmp_path / "deep.png"
    png.from_array(array.reshape(12, -1), "RGB;16").save(str(path))
    sample = io.read_png(path)
    assert sample.source_dtype == np.uint16 and sample.data.max() > 255
    np.testing.assert_array_equal(np.moveaxis(sample.data, 0, -1), array)


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_round_trip_is_close(tmp_path, channels, rgb8):
    array = rgb8[:, :, :channels]
    path = tmp_path / "img.jpg"
    io.write_jpeg(as_sample(array), path)
    sample = io.read_jpeg(path)
    assert sample.channels == channels and sample.source_dtype == np.uint8
    assert np.abs(np.moveaxis(sample.data, 0, -1) - array).mean() < 4


def test_planar_tiff(tmp_path):
    array = make_array(3, np.uint16)
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, np.moveaxis(array, -1, 0), photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(np.moveaxis(io.read_tiff(path).data, 0, -1), array)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation_is_applied(tmp_path, orientation, fmt, rgb8):
    image = Image.fromarray(rgb8)
    exif = image.getexif()
    exif[io.ORIENTATION_TAG] = orientation
    path = tmp_path / f"o{orientation}.{fmt.lower()}"
    image.save(path, format=fmt, exif=exif.tobytes(), **({"quality": 100} if fmt == "JPEG" else {}))
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)))
    sample = (io.read_jpeg if fmt == "JPEG" else io.read_png)(path)
    np.testing.assert_array_equal(np.moveaxis(sample.data, 0, -1), expected)
    # the written EXIF says "upright" so viewers do not rotate a second time
    out = tmp_path / f"out.{fmt.lower()}"
    (io.write_jpeg if fmt == "JPEG" else io.write_png)(sample, out)
    assert Image.open(out).getexif().get(io.ORIENTATION_TAG, 1) == 1


def test_tiff_orientation_tag_is_applied(tmp_path):
    array = make_array(1, np.uint16)[:, :, 0]
    path = tmp_path / "rot.tif"
    tifffile.imwrite(path, array, extratags=[(io.ORIENTATION_TAG, "H", 1, 6, True)])
    np.testing.assert_array_equal(io.read_tiff(path).data[0], np.rot90(array, -1))


@pytest.mark.parametrize("ext, dtype", [(".png", np.uint8), (".png", np.uint16), (".jpg", np.uint8), (".tif", np.uint16)])
def test_icc_profile_survives_the_cli(tmp_path, ext, dtype):
    profile = srgb_profile()
    array = make_array(3, dtype)
    src = tmp_path / f"in{ext}"
    writer = {".png": io.write_png, ".jpg": io.write_jpeg, ".tif": io.write_tiff}[ext]
    writer(as_sample(array, icc_profile=profile), src)
    out = tmp_path / f"out{ext}"
    assert main(["--plugin", "image", "--method", "bicubic", "--scale", "2", str(src), "-o", str(out), "--quiet"]) == 0
    reader = {".png": io.read_png, ".jpg": io.read_jpeg, ".tif": io.read_tiff}[ext]
    result = reader(out)
    assert result.meta["icc_profile"] == profile
    assert result.source_dtype == dtype
    assert result.spatial_shape == (24, 34)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_cli_keeps_dtype_and_channels(tmp_path, channels, dtype):
    src = tmp_path / "in.png"
    io.write_png(as_sample(make_array(channels, dtype)), src)
    assert main(["--plugin", "image", "--scale", "2", str(src), "--quiet"]) == 0
    result = io.read_png(tmp_path / "in_restored.png")
    assert result.source_dtype == dtype and result.channels == channels
    assert (tmp_path / "in_restored.png.yaml").is_file()


def test_alpha_is_restored_separately_from_colour():
    array = make_array(4, np.uint8)
    array[:, :, 3] = 0
    array[3:9, 4:12, 3] = 255
    sample = as_sample(array)
    seen = []

    def colour_method(colour: np.ndarray) -> np.ndarray:
        seen.append(colour.shape[0])
        return np.zeros((colour.shape[0], 24, 34), np.float32)

    result = restore_colour_keep_alpha(sample, colour_method, (24, 34))
    assert seen == [3], "the colour method must not see the alpha channel"
    assert result.channels == 4
    alpha = result.data[3]
    assert alpha[8:16, 10:22].min() > 250 and alpha[:2].max() < 5  # the mask was upscaled, not zeroed


def test_folder_input_restores_every_readable_file(tmp_path, rgb8):
    folder = tmp_path / "tiles"
    folder.mkdir()
    for name in ("a.png", "b.jpg", "c.tif"):
        (io.write_png if name.endswith("png") else io.write_jpeg if name.endswith("jpg") else io.write_tiff)(
            as_sample(rgb8), folder / name
        )
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    assert main(["--plugin", "image", "--scale", "2", str(folder), "-o", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".yaml")) == ["a.png", "b.jpg", "c.tif"]


def test_python_api_mirrors_the_cli(tmp_path, rgb8):
    from restore_core import restore

    src = tmp_path / "p.png"
    io.write_png(as_sample(rgb8), src)
    written = restore(src, plugin="image", method="bicubic", scale=3, output=tmp_path / "q.tif")
    assert written == [tmp_path / "q.tif"]
    assert io.read_tiff(written[0]).spatial_shape == (72, 96)
