"""Read and write PNG, JPEG and TIFF images faithfully.

8- and 16-bit; grey, grey+alpha, RGB, RGBA.  EXIF orientation is applied on
reading (and reset to 1 in the written EXIF so viewers do not rotate twice);
the ICC profile is carried to the output; the output dtype equals the input's.

Pillow decodes PNG/JPEG and metadata, tifffile handles TIFF, and pypng handles
16-bit colour PNG, which Pillow cannot represent.
"""
from __future__ import annotations

import io
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from restore_core.errors import InputError, UsageError
from restore_core.sample import Sample

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
ORIENTATION_TAG = 0x0112
ICC_TIFF_TAG = 34675
SUPPORTED_DTYPES = (np.uint8, np.uint16, np.float32)

# EXIF orientation -> array transform on (H, W, C) arrays; matches PIL.ImageOps.exif_transpose.
ORIENTATIONS: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def sniff_png(head: bytes) -> bool:
    return head.startswith(PNG_MAGIC)


def sniff_jpeg(head: bytes) -> bool:
    return head.startswith(JPEG_MAGIC)


def sniff_tiff(head: bytes) -> bool:
    return head.startswith(TIFF_MAGICS)


def _to_sample(array: np.ndarray, path: Path, fmt: str, orientation: int, meta: dict[str, Any]) -> Sample:
    if array.ndim == 2:
        array = array[:, :, None]
    if array.dtype.type not in SUPPORTED_DTYPES:
        raise InputError(path, f"unsupported pixel type {array.dtype}; the image plugin reads uint8, uint16 and float32")
    channels = array.shape[2]
    if channels not in (1, 2, 3, 4):
        raise InputError(path, f"unsupported number of channels ({channels}); expected grey, grey+alpha, RGB or RGBA")
    array = np.ascontiguousarray(ORIENTATIONS.get(orientation, ORIENTATIONS[1])(array))
    meta = {**meta, "format": fmt, "has_alpha": channels in (2, 4), "orientation_applied": orientation}
    data = np.moveaxis(array, -1, 0).astype(np.float32)
    return Sample(data=data, spatial_dims=2, source_dtype=array.dtype, meta=meta, path=path)


def _pil_metadata(image: Any) -> tuple[int, dict[str, Any]]:
    exif = image.getexif()
    orientation = int(exif.get(ORIENTATION_TAG, 1) or 1)
    meta: dict[str, Any] = {"icc_profile": image.info.get("icc_profile")}
    if len(exif):
        exif[ORIENTATION_TAG] = 1
        meta["exif"] = exif.tobytes()
    return orientation, meta


def read_png(path: Path, cfg: Any = None) -> Sample:
    """Read a PNG of any bit depth; 16-bit colour goes through pypng."""
    from PIL import Image

    with open(path, "rb") as handle:
        header = handle.read(33)
    if len(header) < 33 or not header.startswith(PNG_MAGIC) or header[12:16] != b"IHDR":
        raise InputError(path, "not a valid PNG (bad header)")
    bit_depth = header[24]
    with Image.open(path) as image:
        orientation, meta = _pil_metadata(image)
        if bit_depth == 16:
            import png

            width, height, rows, info = png.Reader(filename=str(path)).asDirect()
            array = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, info["planes"])
        else:
            image.load()
            if image.mode == "P":
                image = image.convert("RGBA" if "transparency" in image.info else "RGB")
            elif image.mode in ("1", "I", "I;16"):
                image = image.convert("L")
            array = np.asarray(image)
    return _to_sample(array, path, "png", orientation, meta)


def read_jpeg(path: Path, cfg: Any = None) -> Sample:
    """Read a JPEG (8-bit grey or colour; CMYK and YCbCr are converted to RGB)."""
    from PIL import Image

    with Image.open(path) as image:
        orientation, meta = _pil_metadata(image)
        image.load()
        if image.mode not in ("L", "RGB"):
            image = image.convert("RGB")
        array = np.asarray(image)
    return _to_sample(array, path, "jpeg", orientation, meta)


def read_tiff(path: Path, cfg: Any = None) -> Sample:
    """Read the first image of a TIFF (chunky or planar; 8/16-bit or float32)."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        page = tif.pages[0]
        axes = series.axes
        array = series.asarray()
        tags = page.tags
        orientation = int(tags[ORIENTATION_TAG].value) if ORIENTATION_TAG in tags else 1
        icc = tags[ICC_TIFF_TAG].value if ICC_TIFF_TAG in tags else None
    if 0 in array.shape:
        raise InputError(path, f"image has zero size (shape {array.shape})")
    if axes in ("YX", "YXS"):
        pass
    elif axes == "SYX":
        array = np.moveaxis(array, 0, -1)
    else:
        raise InputError(path, f"unsupported TIFF layout '{axes}' (multi-page or volume); expected one 2D image")
    return _to_sample(array, path, "tiff", orientation, {"icc_profile": bytes(icc) if icc else None})


def to_source_dtype(sample: Sample) -> np.ndarray:
    """Return the data as (H, W, C) in the input's dtype, rounded and clipped."""
    data = np.moveaxis(sample.data, 0, -1)
    dtype = np.dtype(sample.source_dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        data = np.clip(np.rint(data), info.min, info.max)
    return np.ascontiguousarray(data.astype(dtype))


def _add_png_chunks(png_bytes: bytes, icc: bytes | None, exif: bytes | None) -> bytes:
    """Insert iCCP and eXIf chunks before the first IDAT (pypng writes neither)."""
    import png

    chunks = list(png.Reader(bytes=png_bytes).chunks())
    extra = []
    if icc:
        extra.append((b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc)))
    if exif:
        extra.append((b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
    first_idat = next(i for i, (kind, _) in enumerate(chunks) if kind == b"IDAT")
    out = io.BytesIO()
    png.write_chunks(out, chunks[:first_idat] + extra + chunks[first_idat:])
    return out.getvalue()


def write_png(sample: Sample, path: Path, cfg: Any = None) -> None:
    """Write PNG in the input's bit depth, with ICC profile and EXIF."""
    array = to_source_dtype(sample)
    icc, exif = sample.meta.get("icc_profile"), sample.meta.get("exif")
    if array.dtype == np.uint8:
        from PIL import Image

        image = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
        kwargs = {k: v for k, v in (("icc_profile", icc), ("exif", exif)) if v}
        image.save(path, format="PNG", **kwargs)
        return
    if array.dtype != np.uint16:
        raise UsageError(f"{path}: PNG stores 8- or 16-bit integers, not {array.dtype}; write .tif instead")
    import png

    height, width, channels = array.shape
    writer = png.Writer(width, height, greyscale=channels <= 2, alpha=channels in (2, 4), bitdepth=16)
    buffer = io.BytesIO()
    writer.write(buffer, array.reshape(height, width * channels))
    path.write_bytes(_add_png_chunks(buffer.getvalue(), icc, exif))


def write_jpeg(sample: Sample, path: Path, cfg: Any = None) -> None:
    """Write an 8-bit JPEG; refuses what JPEG cannot hold (16-bit, alpha)."""
    from PIL import Image

    if np.dtype(sample.source_dtype) != np.uint8:
        raise UsageError(f"{path}: JPEG cannot store {np.dtype(sample.source_dtype)} data; write .png or .tif")
    if sample.meta.get("has_alpha"):
        raise UsageError(f"{path}: JPEG cannot store an alpha channel; write .png or .tif")
    array = to_source_dtype(sample)
    image = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    quality = int(cfg.io.jpeg_quality) if cfg is not None and "io" in cfg else 95
    kwargs = {k: v for k, v in (("icc_profile", sample.meta.get("icc_profile")), ("exif", sample.meta.get("exif"))) if v}
    image.save(path, format="JPEG", quality=quality, **kwargs)


def write_tiff(sample: Sample, path: Path, cfg: Any = None) -> None:
    """Write a zlib-compressed TIFF with ICC profile and unassociated alpha."""
    import tifffile

    array = to_source_dtype(sample)
    channels = array.shape[2]
    photometric = "rgb" if channels >= 3 else "minisblack"
    extratags = [(ICC_TIFF_TAG, 7, len(sample.meta["icc_profile"]), sample.meta["icc_profile"], True)] if sample.meta.get("icc_profile") else []
    tifffile.imwrite(
        path,
        array[:, :, 0] if channels == 1 else array,
        photometric=photometric,
        extrasamples=["unassalpha"] if channels in (2, 4) else None,
        compression="zlib",
        extratags=extratags,
        metadata=None,
    )
