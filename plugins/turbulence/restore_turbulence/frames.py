"""Frames, bursts and videos of turbulence-degraded long-range imagery.

One frame is the image plugin's ``Sample`` (``(C, H, W)`` float32, PNG/JPEG and
one-page TIFF are handed to the image plugin's registry, as the face plugin
does).  A sequence is ``Sample(data=(C, T, H, W) float32 in source units,
spatial_dims=3)`` with ``meta["sequence"]`` = ``"burst"`` (a static scene: a
multi-page TIFF or a folder of frames; it restores to ONE image) or
``"video"`` (restores to a video), ``meta["frames"] = T``; videos also carry
``meta["fps"]`` (``"30000/1001"``) and ``meta["video"]`` (codec, pix_fmt,
width, height, container).  Sequences are grey (C=1) or RGB (C=3); alpha is
dropped.  Videos are decoded whole into memory (RGB uint8; rotation side data
is ignored); clips over :data:`MAX_DECODED_BYTES` of float32 are refused.

Video writing: ``.mp4/.mov/.m4v/.mkv`` use libx264 (crf 17) in yuv420p, or
yuv444p (High 4:4:4, no padding, fewer hardware players) when a side is odd;
``.avi`` uses MJPEG (yuvj420p, yuvj444p for odd sides, qscale 1-2); ``.webm``
uses libvpx-vp9 (crf 20, yuv420p; libvpx takes odd sides) and is refused if
the bundled FFmpeg lacks it.
"""
from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from restore_core.errors import InputError
from restore_core.sample import Sample

IMAGE_PLUGIN = "image"
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
FRAME_EXTENSIONS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff"}
TIFF_EXTENSIONS = (".tif", ".tiff")
MAX_DECODED_BYTES = 2 * 1024**3  #: largest sequence accepted, counted as float32 data
DEFAULT_FPS = "25/1"
#: extension -> (FFmpeg muxer, encoder, {even: pix_fmt, odd: pix_fmt}, encoder options)
VIDEO_CODECS: dict[str, tuple[str, str, dict[bool, str], dict[str, str]]] = {
    **{ext: (fmt, "libx264", {True: "yuv420p", False: "yuv444p"}, {"crf": "17", "preset": "medium"})
       for ext, fmt in ((".mp4", "mp4"), (".m4v", "mp4"), (".mov", "mov"), (".mkv", "matroska"))},
    ".avi": ("avi", "mjpeg", {True: "yuvj420p", False: "yuvj444p"}, {"qmin": "1", "qmax": "2"}),
    ".webm": ("webm", "libvpx-vp9", {True: "yuv420p", False: "yuv420p"}, {"crf": "20", "b": "0", "cpu-used": "4"}),
}
IMAGE_BRANDS = (b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis")


def image_registry() -> Any:
    """The image plugin's registry (loaded once by the plugin manager)."""
    from restore_core.plugins import require_plugin

    return require_plugin(IMAGE_PLUGIN).registry


def _image(kind: str, what: str) -> Any:
    return image_registry().get(what, kind)


def _suffix(path: Path) -> str:
    return Path(path).suffix.lower()


def _size(shape: tuple[int, ...]) -> str:
    return f"{shape[-2]}x{shape[-1]}"


def _check_memory(path: Path, frames: int, channels: int, height: int, width: int) -> None:
    if frames * channels * height * width * 4 > MAX_DECODED_BYTES:
        raise InputError(path, f"sequence too large: {frames} frames of {width}x{height}x{channels} exceed "
                               f"{MAX_DECODED_BYTES // 1024**3} GiB as float32; trim or split it")


def frames_of(sample: Sample) -> np.ndarray:
    """The sample's frames as ``(T, C, H, W)``; a 2D sample is one frame (T=1)."""
    if sample.spatial_dims == 2:
        return sample.data[None]
    if sample.spatial_dims == 3 and sample.data.ndim == 4:
        return np.moveaxis(sample.data, 1, 0)
    raise ValueError(f"expected a frame (C, H, W) or a sequence (C, T, H, W), got shape {sample.data.shape}")


def sequence_like(sample: Sample, frames: np.ndarray, sequence: str | None) -> Sample:
    """An output Sample holding ``frames (T, C, H, W)``, keeping meta, source_dtype and path.

    ``sequence=None`` builds a 2D frame (T must be 1) and drops the sequence keys.
    """
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 4:
        raise ValueError(f"frames must be (T, C, H, W), got shape {frames.shape}")
    meta = dict(sample.meta)
    if sequence is None:
        if frames.shape[0] != 1:
            raise ValueError(f"a single frame was asked for but {frames.shape[0]} frames were given")
        meta.pop("sequence", None)
        meta.pop("frames", None)
        return dataclasses.replace(sample, data=np.ascontiguousarray(frames[0]), spatial_dims=2, meta=meta)
    meta.update(sequence=sequence, frames=int(frames.shape[0]))
    data = np.ascontiguousarray(np.moveaxis(frames, 0, 1))
    return dataclasses.replace(sample, data=data, spatial_dims=3, meta=meta)


def _sequence(path: Path, stack: np.ndarray, dtype: Any, kind: str, meta: dict[str, Any]) -> Sample:
    """Wrap ``(T, H, W, C)`` integer/float frames as a sequence Sample."""
    data = np.ascontiguousarray(np.moveaxis(stack, -1, 0), dtype=np.float32)
    meta = {**meta, "sequence": kind, "frames": int(stack.shape[0]), "has_alpha": False}
    return Sample(data=data, spatial_dims=3, source_dtype=np.dtype(dtype), meta=meta, path=Path(path))


def _same(path: Path, what: str, names: list[str], values: list[Any], verb: str = "is") -> None:
    """Refuse a burst whose frames differ in ``what``, naming the first frame and the first odd one."""
    for name, value in zip(names, values):
        if value != values[0]:
            first = f"{names[0]} {verb} {values[0]}"
            raise InputError(path, f"burst frames differ in {what}: {first}, {name} {verb} {value}")


def read_tiff(path: Path, cfg: Any = None) -> Sample:
    """A multi-page TIFF is a burst (pages of equal size); a one-page TIFF is the image plugin's frame.

    Reduced-resolution pages (thumbnails, pyramids) are skipped; pages must be grey or RGB
    (an alpha sample is dropped) in uint8, uint16 or float32.
    """
    import tifffile

    path = Path(path)
    with tifffile.TiffFile(path) as tif:
        pages = [p for p in tif.pages if not int(getattr(p, "subfiletype", 0) or 0) & 1]
        if len(pages) > 1:
            names = [f"page {k}" for k in range(len(pages))]
            _same(path, "size", names, [f"{p.imagelength}x{p.imagewidth}" for p in pages])
            colour = [3 if int(p.photometric) in (2, 6) else 1 for p in pages]
            _same(path, "channels", names, colour, "has")
            _same(path, "pixel type", names, [str(p.dtype) for p in pages])
            if int(pages[0].photometric) not in (1, 2, 6) or pages[0].dtype not in (np.uint8, np.uint16, np.float32):
                raise InputError(path, f"unsupported burst page (photometric {int(pages[0].photometric)}, "
                                       f"{pages[0].dtype}); expected grey or RGB uint8, uint16 or float32")
            _check_memory(path, len(pages), colour[0], int(pages[0].imagelength), int(pages[0].imagewidth))
            frames = []
            for page in pages:
                array = page.asarray()
                array = np.moveaxis(array, 0, -1) if page.axes.startswith("S") else array
                frames.append((array[..., None] if array.ndim == 2 else array)[..., :colour[0]])
            icc = pages[0].tags[34675].value if 34675 in pages[0].tags else None
    if len(pages) <= 1:
        return _image("tiff", "readers").read(path, cfg)
    stack = np.stack(frames)
    return _sequence(path, stack, stack.dtype, "burst", {"format": "tiff", "icc_profile": bytes(icc) if icc else None})


def read_video(path: Path, cfg: Any = None) -> Sample:
    """Decode every frame of a video to RGB uint8, held whole in memory (see :data:`MAX_DECODED_BYTES`).

    Packets that fail to decode are skipped (counted in ``meta["video"]["undecodable_packets"]``, with a
    warning); a video left with no frame, an unreadable or truncated container is an :class:`InputError`.
    """
    import av

    path = Path(path)
    frames: list[np.ndarray] = []
    bad, first_error = 0, ""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(path, "holds no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            ctx = stream.codec_context
            info = {"codec": ctx.name, "pix_fmt": ctx.pix_fmt, "width": int(ctx.width), "height": int(ctx.height),
                    "container": container.format.name}
            if stream.frames and ctx.width and ctx.height:
                _check_memory(path, int(stream.frames), 3, int(ctx.height), int(ctx.width))
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            for packet in container.demux(stream):
                try:
                    decoded = packet.decode()
                except av.error.FFmpegError as exc:
                    bad, first_error = bad + 1, first_error or str(exc)
                    continue
                for frame in decoded:
                    array = frame.to_ndarray(format="rgb24")
                    if frames and array.shape != frames[0].shape:
                        raise InputError(path, f"video frames change size: frame 0 is {_size(frames[0].shape[:2])}, "
                                               f"frame {len(frames)} is {_size(array.shape[:2])}")
                    frames.append(array)
                    _check_memory(path, len(frames), 3, *array.shape[:2])
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 -- av.error.*, OSError, codec oddities: one line for the user
        raise InputError(path, f"cannot be decoded as video ({type(exc).__name__}: {exc})") from None
    if not frames:
        detail = f" ({bad} packets failed to decode: {first_error})" if bad else ""
        raise InputError(path, f"video holds no frames{detail}")
    if bad:
        warnings.warn(f"{path}: skipped {bad} undecodable packets ({first_error})", stacklevel=2)
        info["undecodable_packets"] = bad
    fps = Fraction(rate) if rate else Fraction(DEFAULT_FPS)
    meta = {"format": "video", "fps": f"{fps.numerator}/{fps.denominator}", "video": info, "icc_profile": None}
    return _sequence(path, np.stack(frames), np.uint8, "video", meta)


def _natural_key(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def read_burst_folder(folder: Path, cfg: Any = None) -> Sample:
    """Every frame file (PNG/JPEG/TIFF, not hidden) in ``folder``, in natural name order, as a burst.

    Frames are read by the image plugin; alpha is dropped; all must share size, channels and pixel type.
    The burst's meta is the first frame's plus ``frame_names``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "is not a folder")
    files = sorted((p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                    and p.suffix.lower() in FRAME_EXTENSIONS), key=_natural_key)
    if not files:
        raise InputError(folder, f"folder holds no frames ({', '.join(FRAME_EXTENSIONS)})")
    if len(files) == 1:
        raise InputError(folder, f"a burst needs at least 2 frames, found 1 ({files[0].name})")
    def read(file: Path) -> Sample:
        return _image(FRAME_EXTENSIONS[file.suffix.lower()], "readers").read(file, cfg)

    first = read(files[0])
    _check_memory(folder, len(files), *first.data.shape)
    samples = [first] + [read(f) for f in files[1:]]
    frames = [s.data[:-1] if s.meta.get("has_alpha") else s.data for s in samples]
    names = [f.name for f in files]
    _same(folder, "size", names, [f"{f.shape[1]}x{f.shape[2]}" for f in frames])
    _same(folder, "channels", names, [f.shape[0] for f in frames], "has")
    _same(folder, "pixel type", names, [str(np.dtype(s.source_dtype)) for s in samples])
    meta = {**samples[0].meta, "frame_names": names}
    return _sequence(folder, np.moveaxis(np.stack(frames), 1, -1), samples[0].source_dtype, "burst", meta)


def sniff_video(head: bytes) -> bool:
    """MP4/MOV/M4V (``ftyp``, not HEIF/AVIF stills), AVI (``RIFF....AVI``), Matroska/WebM (EBML)."""
    if head[4:8] == b"ftyp":
        return head[8:12] not in IMAGE_BRANDS
    return (head[:4] == b"RIFF" and head[8:12] == b"AVI ") or head.startswith(b"\x1a\x45\xdf\xa3")


def _to_dtype(array: np.ndarray, dtype: Any) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        array = np.clip(np.rint(array), info.min, info.max)
    return np.ascontiguousarray(array.astype(dtype))


def write_frame(kind: str) -> Callable[[Sample, Path, Any], None]:
    """The image plugin's ``kind`` writer for frames; a sequence is refused (TIFF: multi-page)."""
    def write(sample: Sample, path: Path, cfg: Any = None) -> None:
        if sample.spatial_dims == 2:
            return _image(kind, "writers").write(sample, path, cfg)
        if kind != "tiff":
            count = sample.data.shape[1]
            raise ValueError(f"{kind.upper()} holds one image, not {count} frames; write .tif or a video")
        write_tiff_pages(sample, path)
    return write


def write_tiff_pages(sample: Sample, path: Path) -> None:
    """A ``(C, T, H, W)`` sequence as a multi-page TIFF, one page per frame, in the source dtype."""
    import tifffile

    frames = np.moveaxis(frames_of(sample), 1, -1)  # (T, H, W, C)
    if frames.shape[-1] not in (1, 3):
        raise ValueError(f"a TIFF sequence holds grey or RGB frames, not {frames.shape[-1]} channels")
    array = _to_dtype(frames, sample.source_dtype)
    rgb = array.shape[-1] == 3
    tifffile.imwrite(path, array if rgb else array[..., 0], photometric="rgb" if rgb else "minisblack",
                     compression="zlib", metadata=None)


def write_video(sample: Sample, path: Path, cfg: Any = None) -> None:
    """Encode a ``(C, T, H, W)`` uint8 sequence at ``meta["fps"]`` (default 25/1); codecs in the module doc."""
    import av

    path = Path(path)
    if sample.spatial_dims != 3:
        raise ValueError("a single frame is not a video; write .png, .jpg or .tif")
    fmt, codec, pix_fmts, options = VIDEO_CODECS[_suffix(path)]
    frames = _to_dtype(np.moveaxis(frames_of(sample), 1, -1), np.uint8)  # (T, H, W, C)
    frames = np.repeat(frames, 3, axis=-1) if frames.shape[-1] == 1 else frames[..., :3]
    height, width = frames.shape[1:3]
    fps = Fraction(str(sample.meta.get("fps") or DEFAULT_FPS)).limit_denominator(1_000_000)
    with av.open(str(path), mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=fps, options=dict(options))
        stream.width, stream.height = width, height
        stream.pix_fmt = pix_fmts[width % 2 == 0 and height % 2 == 0]
        for index, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts, frame.time_base = index, 1 / fps
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _kind(sample: Sample) -> str:
    return str(sample.meta.get("sequence") or "frame") if sample.spatial_dims == 3 else "frame"


def check_frame(kind: str) -> Callable[[Sample, Path], None]:
    """PNG/JPEG/TIFF: a video restores to a video (TIFF: multi-page); bursts and frames to one image."""
    def check(sample: Sample, path: Path) -> None:
        if _kind(sample) == "video" and kind != "tiff":
            raise ValueError(f"a video restores to a video; write {', '.join(VIDEO_EXTENSIONS)} or a multi-page .tif")
        if _kind(sample) == "video":
            return
        found = _image(kind, "writers").fields.get("check")
        if found is not None:
            found(sample, path)
    return check


def check_video(sample: Sample, path: Path) -> None:
    """Only a video input restores to a video, and only with an encoder FFmpeg has."""
    kind = _kind(sample)
    if kind == "burst":
        raise ValueError("a burst restores to one image; write .png, .jpg or .tif")
    if kind != "video":
        raise ValueError("a single frame is not a video; write .png, .jpg or .tif")
    if np.dtype(sample.source_dtype) != np.uint8:
        raise ValueError(f"video stores 8-bit frames, not {np.dtype(sample.source_dtype)}; write .tif")
    import av

    codec = VIDEO_CODECS[_suffix(path)][1]
    if codec not in av.codecs_available:
        raise ValueError(f"this FFmpeg build has no {codec} encoder for {_suffix(path)}; write .mp4 or .mkv")


def _image_sniff(kind: str) -> Callable[[bytes], bool]:
    def sniff(head: bytes) -> bool:
        found = _image(kind, "readers").fields.get("sniff")
        return bool(found(head)) if found is not None else False
    return sniff


def register_readers(register: Callable[..., None]) -> None:
    """png, jpeg (image plugin), tiff (burst or frame), video, and the burst_folder reader."""
    def image_reader(kind: str) -> Callable[[Path, Any], Sample]:
        return lambda path, cfg=None: _image(kind, "readers").read(path, cfg)

    register(name="png", read=image_reader("png"), extensions=[".png"], sniff=_image_sniff("png"))
    register(name="jpeg", read=image_reader("jpeg"), extensions=[".jpg", ".jpeg"], sniff=_image_sniff("jpeg"))
    register(name="tiff", read=read_tiff, extensions=list(TIFF_EXTENSIONS), sniff=_image_sniff("tiff"),
             description="one-page TIFF = frame, multi-page TIFF = burst")
    register(name="video", read=read_video, extensions=list(VIDEO_EXTENSIONS), sniff=sniff_video,
             description="video through PyAV/FFmpeg, decoded to RGB uint8")
    register(name="burst_folder", read=read_burst_folder, extensions=[], folder=True,
             description="a folder of PNG/JPEG/TIFF frames of a static scene, in name order")


def register_writers(register: Callable[..., None]) -> None:
    """png, jpeg (frames), tiff (frame or multi-page sequence), video."""
    register(name="png", write=write_frame("png"), extensions=[".png"], check=check_frame("png"))
    register(name="jpeg", write=write_frame("jpeg"), extensions=[".jpg", ".jpeg"], check=check_frame("jpeg"))
    register(name="tiff", write=write_frame("tiff"), extensions=list(TIFF_EXTENSIONS), check=check_frame("tiff"),
             description="a frame, or a sequence as one page per frame")
    register(name="video", write=write_video, extensions=list(VIDEO_EXTENSIONS), check=check_video,
             description="libx264 (mp4/mov/m4v/mkv), MJPEG (avi), VP9 (webm)")


__all__ = [
    "MAX_DECODED_BYTES", "VIDEO_EXTENSIONS", "check_frame", "check_video", "frames_of", "image_registry",
    "read_burst_folder", "read_tiff", "read_video", "register_readers", "register_writers", "sequence_like",
    "sniff_video", "write_frame", "write_tiff_pages", "write_video",
]
