"""Frames, bursts and videos: readers, writers and the pre-run writer checks of restore_turbulence.frames."""
from __future__ import annotations

import importlib.util
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("restore_turbulence") is None:  # the plugin may not be installed yet
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from restore_turbulence import frames as F

from restore_core.errors import InputError
from restore_core.sample import Sample

av = pytest.importorskip("av")
tifffile = pytest.importorskip("tifffile")
Image = pytest.importorskip("PIL.Image")


def pattern(t: int = 5, h: int = 24, w: int = 32, c: int = 3, peak: float = 255.0) -> np.ndarray:
    """A smooth, slowly moving RGB/grey test pattern as (T, C, H, W) float32 in 0..peak."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for k in range(t):
        planes = [0.5 + 0.3 * np.sin((x + k) / 16.0), 0.5 + 0.3 * np.cos(y / 14.0), 0.2 + 0.6 * (x + y) / (w + h)]
        out.append(np.stack(planes[:c]))
    return (np.stack(out) * peak).astype(np.float32)


def sequence(frames: np.ndarray, kind: str | None, dtype: type = np.uint8, **meta: object) -> Sample:
    base = Sample(data=np.zeros((frames.shape[1], 1, 1), np.float32), spatial_dims=2, source_dtype=np.dtype(dtype),
                  meta=dict(meta), path=Path("in"))
    return F.sequence_like(base, np.rint(frames), kind)


def make_video(path: Path, frames: np.ndarray, fps: str = "24/1") -> Sample:
    clip = sequence(frames, "video", fps=fps)
    F.write_video(clip, path)
    return clip


def png(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


# --- sample helpers -----------------------------------------------------------------------------------------

def test_frames_of_and_sequence_like() -> None:
    frame = Sample(data=np.ones((3, 4, 5), np.float32), spatial_dims=2, source_dtype=np.dtype(np.uint8),
                   meta={"icc_profile": None}, path=Path("a.png"))
    assert F.frames_of(frame).shape == (1, 3, 4, 5)
    video = F.sequence_like(frame, np.zeros((6, 3, 4, 5)), "video")
    assert video.data.shape == (3, 6, 4, 5) and video.spatial_dims == 3 and video.data.dtype == np.float32
    assert video.meta["sequence"] == "video" and video.meta["frames"] == 6 and video.path == Path("a.png")
    assert F.frames_of(video).shape == (6, 3, 4, 5)
    back = F.sequence_like(video, F.frames_of(video)[:1], None)
    assert back.spatial_dims == 2 and back.data.shape == (3, 4, 5)
    assert "sequence" not in back.meta and "frames" not in back.meta and back.source_dtype == np.uint8
    with pytest.raises(ValueError, match="6 frames"):
        F.sequence_like(video, F.frames_of(video), None)


# --- TIFF ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype,channels", [(np.uint8, 3), (np.uint16, 1), (np.uint16, 3)])
def test_multipage_tiff_round_trip(tmp_path: Path, dtype: type, channels: int) -> None:
    peak = float(np.iinfo(dtype).max)
    frames = pattern(t=4, c=channels, peak=peak)
    burst = sequence(frames, "burst", dtype)
    path = tmp_path / "burst.tif"
    F.write_frame("tiff")(burst, path)
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 4
    read = F.read_tiff(path)
    assert read.spatial_dims == 3 and read.data.shape == (channels, 4, 24, 32) and read.data.dtype == np.float32
    assert read.source_dtype == np.dtype(dtype) and read.meta["sequence"] == "burst" and read.meta["frames"] == 4
    np.testing.assert_array_equal(read.data, np.rint(np.moveaxis(frames, 0, 1)))


def test_multipage_tiff_writer_rounds_and_clips(tmp_path: Path) -> None:
    frames = np.array([[[[-3.2, 1.6, 300.0]]], [[[254.5, 7.4, 0.0]]]], np.float32)  # (T=2, C=1, H=1, W=3)
    burst = Sample(data=np.moveaxis(frames, 0, 1), spatial_dims=3, source_dtype=np.dtype(np.uint8),
                   meta={"sequence": "burst", "frames": 2})
    F.write_frame("tiff")(burst, tmp_path / "c.tif")
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "c.tif"), [[[0, 2, 255]], [[254, 7, 0]]])


def test_one_page_tiff_is_a_frame(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "one.tif", np.arange(48, dtype=np.uint16).reshape(4, 4, 3), photometric="rgb")
    frame = F.read_tiff(tmp_path / "one.tif")
    assert frame.spatial_dims == 2 and frame.data.shape == (3, 4, 4) and frame.source_dtype == np.uint16
    assert "sequence" not in frame.meta


def test_tiff_pages_of_different_size_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "odd.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(np.zeros((8, 8), np.uint8))
        tif.write(np.zeros((6, 8), np.uint8))
    with pytest.raises(InputError, match="burst frames differ in size: page 0 is 8x8, page 1 is 6x8") as err:
        F.read_tiff(path)
    assert str(path) in str(err.value)


# --- burst folder -------------------------------------------------------------------------------------------

def test_burst_folder_in_name_order(tmp_path: Path) -> None:
    for k in (10, 2, 1):
        png(tmp_path / f"frame_{k}.png", np.full((6, 5, 3), k, np.uint8))
    png(tmp_path / ".hidden.png", np.zeros((2, 2), np.uint8))
    (tmp_path / "notes.txt").write_text("not a frame")
    burst = F.read_burst_folder(tmp_path)
    assert burst.spatial_dims == 3 and burst.data.shape == (3, 3, 6, 5) and burst.source_dtype == np.uint8
    assert burst.meta["sequence"] == "burst" and burst.meta["frames"] == 3
    assert burst.meta["frame_names"] == ["frame_1.png", "frame_2.png", "frame_10.png"]
    assert burst.data[0, :, 0, 0].tolist() == [1, 2, 10]


def test_burst_folder_drops_alpha(tmp_path: Path) -> None:
    for k in range(2):
        png(tmp_path / f"{k}.png", np.full((4, 4, 4), 9, np.uint8))
    burst = F.read_burst_folder(tmp_path)
    assert burst.channels == 3 and burst.meta["has_alpha"] is False


def test_burst_folder_sizes_differ(tmp_path: Path) -> None:
    png(tmp_path / "a.png", np.zeros((6, 5, 3), np.uint8))
    png(tmp_path / "b.png", np.zeros((7, 5, 3), np.uint8))
    with pytest.raises(InputError, match="differ in size: a.png is 6x5, b.png is 7x5") as err:
        F.read_burst_folder(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_burst_folder_channels_differ(tmp_path: Path) -> None:
    png(tmp_path / "a.png", np.zeros((6, 5, 3), np.uint8))
    png(tmp_path / "b.png", np.zeros((6, 5), np.uint8))
    with pytest.raises(InputError, match="differ in channels: a.png has 3, b.png has 1"):
        F.read_burst_folder(tmp_path)


def test_burst_folder_needs_two_frames(tmp_path: Path) -> None:
    png(tmp_path / "only.png", np.zeros((6, 5, 3), np.uint8))
    with pytest.raises(InputError, match="a burst needs at least 2 frames, found 1") as err:
        F.read_burst_folder(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_empty_burst_folder(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(InputError, match="holds no frames") as err:
        F.read_burst_folder(tmp_path)
    assert str(tmp_path) in str(err.value)


# --- video --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,fps", [("clip.mp4", "30000/1001"), ("clip.mkv", "24/1"), ("clip.mov", "25/1"),
                                      ("clip.m4v", "24/1"), ("clip.avi", "30/1"), ("clip.webm", "24/1")])
def test_video_round_trip(tmp_path: Path, name: str, fps: str) -> None:
    if name.endswith(".webm") and "libvpx-vp9" not in av.codecs_available:
        pytest.skip("this FFmpeg build has no VP9 encoder")
    clip = make_video(tmp_path / name, pattern(t=6), fps)
    read = F.read_video(tmp_path / name)
    assert read.spatial_dims == 3 and read.data.shape == clip.data.shape and read.source_dtype == np.uint8
    assert read.meta["sequence"] == "video" and read.meta["frames"] == 6 and read.meta["fps"] == fps
    assert set(read.meta["video"]) >= {"codec", "pix_fmt", "width", "height"}
    error = np.abs(read.data - clip.data)
    assert error.mean() < 3.0 and np.percentile(error, 99) < 12.0


def test_video_odd_size_and_grey(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "odd.mp4", pattern(t=3, h=15, w=21, c=1))
    read = F.read_video(tmp_path / "odd.mp4")
    assert read.data.shape == (3, 3, 15, 21) and read.meta["video"]["pix_fmt"] == "yuv444p"
    assert np.abs(read.data - clip.data[[0, 0, 0]]).mean() < 3.0  # grey is written as R = G = B


def test_truncated_mp4(tmp_path: Path) -> None:
    path = tmp_path / "cut.mp4"
    make_video(path, pattern(t=8))
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.4)])
    with pytest.raises(InputError, match="cannot be decoded as video") as err:
        F.read_video(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_not_a_video(tmp_path: Path) -> None:
    path = tmp_path / "fake.mp4"
    path.write_text("this is not a video at all\n" * 20)
    with pytest.raises(InputError, match="cannot be decoded as video") as err:
        F.read_video(path)
    assert str(path) in str(err.value)


def test_video_without_decodable_frames(tmp_path: Path) -> None:
    """A stream whose every packet is garbage: nothing decodes, so there is no frame."""
    path = tmp_path / "garbage.avi"
    with av.open(str(path), mode="w", format="avi") as container:
        stream = container.add_stream("mjpeg", rate=24)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuvj420p"
        container.start_encoding()
        for k in range(3):
            packet = av.Packet(b"\x00\x11not jpeg" * 20)
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, k, k, Fraction(1, 24)
            container.mux(packet)
    with pytest.raises(InputError, match="video holds no frames") as err:
        F.read_video(path)
    assert str(path) in str(err.value)


def test_video_with_some_bad_packets_keeps_the_good_frames(tmp_path: Path) -> None:
    path = tmp_path / "partly.avi"
    with av.open(str(path), mode="w", format="avi") as container:
        stream = container.add_stream("mjpeg", rate=24)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuvj420p"
        for k, array in enumerate(np.moveaxis(np.rint(pattern(t=3)), 1, -1).astype(np.uint8)):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = k
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        packet = av.Packet(b"\x00\x11not jpeg" * 20)
        packet.stream, packet.pts, packet.dts, packet.time_base = stream, 3, 3, Fraction(1, 24)
        container.mux(packet)
    with pytest.warns(UserWarning, match="skipped 1 undecodable"):
        clip = F.read_video(path)
    assert clip.meta["frames"] == 3 and clip.meta["video"]["undecodable_packets"] == 1


def test_video_stream_without_packets(tmp_path: Path) -> None:
    """An mp4 with a video track and no samples: FFmpeg drops the empty track, so no video stream is left."""
    path = tmp_path / "empty.mp4"
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        container.start_encoding()
    with pytest.raises(InputError, match="no video stream|no frames|cannot be decoded") as err:
        F.read_video(path)
    assert str(path) in str(err.value)


def test_video_over_the_memory_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_video(tmp_path / "big.mkv", pattern(t=4))
    monkeypatch.setattr(F, "MAX_DECODED_BYTES", 3 * 24 * 32 * 4 * 2)  # two frames' worth
    with pytest.raises(InputError, match="too large"):
        F.read_video(tmp_path / "big.mkv")


def test_sniff_video() -> None:
    assert F.sniff_video(b"\x00\x00\x00\x20ftypisom\x00\x00")
    assert not F.sniff_video(b"\x00\x00\x00\x18ftypheic\x00\x00")
    assert F.sniff_video(b"RIFF\x10\x00\x00\x00AVI LIST")
    assert F.sniff_video(b"\x1a\x45\xdf\xa3\x9f")
    assert not F.sniff_video(b"\x89PNG\r\n\x1a\n")


# --- writers and their checks -------------------------------------------------------------------------------

def test_sequence_to_png_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not 5 frames"):
        F.write_frame("png")(sequence(pattern(), "burst"), tmp_path / "x.png")


def test_frame_writers_delegate_to_image_plugin(tmp_path: Path) -> None:
    frame = sequence(pattern(t=1), None)
    for name in ("x.png", "x.jpg", "x.tif"):
        F.write_frame({"png": "png", "jpg": "jpeg", "tif": "tiff"}[name[2:]])(frame, tmp_path / name)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "x.png")), np.moveaxis(frame.data, 0, -1))
    assert F.read_tiff(tmp_path / "x.tif").data.shape == (3, 24, 32)


def test_writer_checks(tmp_path: Path) -> None:
    video = sequence(pattern(), "video", fps="24/1")
    burst = sequence(pattern(), "burst")
    frame = sequence(pattern(t=1), None)
    with pytest.raises(ValueError, match="a video restores to a video"):
        F.check_frame("png")(video, tmp_path / "o.png")
    with pytest.raises(ValueError, match="a video restores to a video"):
        F.check_frame("jpeg")(video, tmp_path / "o.jpg")
    F.check_frame("tiff")(video, tmp_path / "o.tif")
    F.check_video(video, tmp_path / "o.mp4")
    with pytest.raises(ValueError, match="a burst restores to one image"):
        F.check_video(burst, tmp_path / "o.mp4")
    for kind, name in (("png", "o.png"), ("jpeg", "o.jpg"), ("tiff", "o.tif")):
        F.check_frame(kind)(burst, tmp_path / name)
        F.check_frame(kind)(frame, tmp_path / name)
    with pytest.raises(ValueError, match="a single frame is not a video"):
        F.check_video(frame, tmp_path / "o.mp4")
    with pytest.raises(ValueError, match="JPEG cannot store uint16"):  # the image plugin's own check still runs
        F.check_frame("jpeg")(sequence(pattern(), "burst", np.uint16), tmp_path / "o.jpg")


def test_registrations() -> None:
    readers: dict[str, dict] = {}
    writers: dict[str, dict] = {}
    F.register_readers(lambda **kw: readers.setdefault(kw["name"], kw))
    F.register_writers(lambda **kw: writers.setdefault(kw["name"], kw))
    assert set(readers) == {"png", "jpeg", "tiff", "video", "burst_folder"}
    assert set(writers) == {"png", "jpeg", "tiff", "video"}
    assert readers["burst_folder"]["folder"] is True and readers["burst_folder"]["extensions"] == []
    assert tuple(readers["video"]["extensions"]) == F.VIDEO_EXTENSIONS == tuple(writers["video"]["extensions"])
    assert readers["png"]["sniff"](b"\x89PNG\r\n\x1a\n") and readers["tiff"]["sniff"](b"II*\x00")
    assert all(callable(w["check"]) for w in writers.values())
