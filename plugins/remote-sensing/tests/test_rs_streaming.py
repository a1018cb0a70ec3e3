"""The streaming machinery: exact windows, seamless blending, bounded memory, nodata."""
from __future__ import annotations

import tempfile

import numpy as np
import pytest

from restore_remote_sensing.bicubic import bicubic_upsample
from restore_core.engine.windows.frontier import Frontier
from restore_remote_sensing.sinks import ArraySink
from restore_remote_sensing.sources import ArraySource
from restore_core.engine.windows.streamed import plan_axis, stream_restore


def upsample_fn(scale: int, seen: list | None = None):
    def fn(data: np.ndarray, valid: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
        if seen is not None:
            seen.append((data.shape, origin))
        return bicubic_upsample(data, scale)

    return fn


def stream(data, scale, tile, overlap, halo, nodata=None, block=(1, 1), seen=None, frontier=None, fn=None):
    source = ArraySource(data, nodata)
    sink = ArraySink((data.shape[0], data.shape[1] * scale, data.shape[2] * scale), nodata, "float32")
    sink.block_shape = block
    rows = plan_axis(data.shape[1], tile, overlap, halo, scale)
    cols = plan_axis(data.shape[2], tile, overlap, halo, scale)
    stats = stream_restore(source, sink, fn or upsample_fn(scale, seen), rows, cols, frontier)
    return sink.data, stats


@pytest.mark.parametrize(
    "scale, tile, overlap, block", [(2, 16, 4, (1, 1)), (4, 12, 0.25, (16, 16)), (3, 20, 0, (32, 48)), (2, 7, 3, (16, 16))]
)
def test_windows_with_a_halo_reproduce_whole_scene_bicubic(smooth, scale, tile, overlap, block):
    """halo >= kernel reach: every window is exact, so blending and block-aligned flushing must add no error."""
    data = smooth(3, 37, 45, "float32")
    expected = bicubic_upsample(data, scale)
    out, stats = stream(data, scale, tile, overlap, halo=2, block=block)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert stats.windows == len(plan_axis(37, tile, overlap, 2, scale).starts) * len(plan_axis(45, tile, overlap, 2, scale).starts)


def test_gaussian_blending_hides_window_seams(smooth):
    """Without a halo, window edges are wrong; overlapping, blended windows must hide them."""
    data = smooth(2, 64, 64, "float32")
    expected = bicubic_upsample(data, 2)
    seamed, _ = stream(data, 2, 16, 0, halo=0)
    blended, _ = stream(data, 2, 16, 8, halo=0)
    seam_error = np.abs(seamed - expected).max()
    blend_error = np.abs(blended - expected).max()
    assert seam_error > 1e-3  # the per-window border effect is real...
    assert blend_error < seam_error / 20  # ...and the blending removes it
    inner = (slice(None), slice(8, -8), slice(8, -8))
    np.testing.assert_allclose(blended[inner], expected[inner], atol=2e-3)


def test_method_never_sees_more_than_tile_plus_halo(smooth):
    seen: list = []
    data = smooth(3, 50, 70, "float32")
    _, stats = stream(data, 2, 16, 4, halo=3, seen=seen)
    assert max(shape[1] for shape, _ in seen) <= 16 + 2 * 3
    assert max(shape[2] for shape, _ in seen) <= 16 + 2 * 3
    assert stats.max_window_pixels <= (16 + 2 * 3) ** 2
    origins = {origin for _, origin in seen}
    assert (0, 0) in origins and len(origins) == len(seen)  # origins identify windows (for per-window seeds)


def test_accumulator_does_not_grow_with_the_scene(smooth):
    """The in-memory strip and the frontier depend on tile and block size, not on the scene size."""
    small = stream(smooth(2, 64, 64, "float32"), 2, 16, 4, halo=0, block=(16, 16))[1]
    large = stream(smooth(2, 64, 256, "float32"), 2, 16, 4, halo=0, block=(16, 16))[1]
    tall = stream(smooth(2, 256, 64, "float32"), 2, 16, 4, halo=0, block=(16, 16))[1]
    assert small.max_strip_shape == large.max_strip_shape == tall.max_strip_shape
    assert small.max_strip_shape[0] <= 16 * 2 + 16 and small.max_strip_shape[1] <= 16 * 2 + 16
    assert large.max_frontier_rows == small.max_frontier_rows == tall.max_frontier_rows


def test_frontier_on_disk_gives_the_same_result(smooth):
    data = smooth(3, 40, 56, "float32")
    in_memory, _ = stream(data, 2, 16, 4, halo=0, block=(16, 16))
    on_disk, _ = stream(data, 2, 16, 4, halo=0, block=(16, 16), frontier=Frontier(3, tempfile.TemporaryFile))
    np.testing.assert_array_equal(in_memory, on_disk)


def test_nodata_is_masked_from_the_condition_and_written_back(smooth):
    data = smooth(2, 48, 48, "float32") * 1000
    nodata = -9999.0
    data[:, 10:30, 5:20] = nodata  # a nodata hole
    data[1, 40, 40] = nodata  # and a single nodata pixel in one band
    valid = data != nodata
    out, _ = stream(data, 2, 16, 4, halo=2, nodata=nodata)
    expected_valid = valid.repeat(2, axis=1).repeat(2, axis=2)
    np.testing.assert_array_equal(out != nodata, expected_valid)
    # Not hallucinated into: valid outputs stay near the valid inputs' range, far from -9999.
    for band in range(2):
        values = out[band][expected_valid[band]]
        assert values.min() > data[band][valid[band]].min() - 100


def test_all_nodata_windows_are_skipped_without_calling_the_method(smooth):
    data = smooth(1, 64, 64, "float32")
    data[:, :40, :] = np.nan  # no nodata value: NaN is invalid
    seen: list = []
    out, stats = stream(data, 2, 16, 0, halo=0, seen=seen)
    assert stats.skipped > 0 and len(seen) == stats.windows
    assert all(origin[0] + shape[1] > 40 for shape, origin in seen)
    assert np.isnan(out[:, :80]).all() and not np.isnan(out[:, 80:]).any()


def test_a_wrong_output_shape_is_reported(smooth):
    data = smooth(1, 16, 16, "float32")
    with pytest.raises(ValueError, match="restore_window returned"):
        stream(data, 2, 8, 0, halo=0, fn=lambda d, v, o: d)


def test_restore_file_memory_does_not_grow_with_the_scene(tmp_path, make_raster, smooth):
    """The file path (frontier on disk, block-aligned writes) keeps the same bounded strip for wider scenes."""
    from restore_core.api import make_context, prepare
    from restore_remote_sensing.bicubic import Bicubic

    overrides = ["tiling.tile=16", "tiling.overlap=4", "tiling.halo=0", "io.blocksize=16", "scale=2"]
    _, cfg = prepare("remote-sensing", "bicubic", overrides=overrides)
    method, stats = Bicubic(), []
    for width in (32, 160):
        source = make_raster(tmp_path / f"w{width}.tif", smooth(2, 48, width))
        method.restore_file(source, tmp_path / f"out{width}.tif", cfg, make_context(cfg, quiet=True))
        stats.append(method.last_stats)
    assert stats[0].max_strip_shape == stats[1].max_strip_shape
    assert stats[0].max_frontier_rows == stats[1].max_frontier_rows
    assert stats[1].max_window_pixels <= 16 * 16


def test_file_and_in_memory_paths_agree(tmp_path, make_raster, read_raster, smooth):
    """restore_file (streamed) and restore(sample) (restore eval) give the same pixels, nodata included."""
    from restore_core.api import make_context, prepare
    from restore_remote_sensing.bicubic import Bicubic
    from restore_remote_sensing.raster_sample import read_raster as read_sample

    data = smooth(3, 40, 36, "uint16")
    data[:, 3:9, 20:30] = 0
    source = make_raster(tmp_path / "scene.tif", data, nodata=0)
    _, cfg = prepare("remote-sensing", "bicubic", overrides=["tiling.tile=16", "tiling.overlap=6", "tiling.halo=1", "scale=3"])
    context = make_context(cfg, quiet=True)
    Bicubic().restore_file(source, tmp_path / "file.tif", cfg, context)
    streamed, _ = read_raster(tmp_path / "file.tif")
    in_memory = Bicubic().restore(read_sample(source), cfg, context)
    np.testing.assert_array_equal(streamed, in_memory.data.astype(np.uint16))
