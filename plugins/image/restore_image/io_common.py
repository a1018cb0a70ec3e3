"""What the PNG, JPEG and TIFF readers and writers share: sniffing, orientation, dtypes, alpha."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from restore_core.errors import InputError
from restore_core.sample import Sample

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
ORIENTATION_TAG = 0x0112
ICC_TIFF_TAG = 34675
SUPPORTED_DTYPES = (np.uint8, np.uint16, np.float32)
ASSOCIATED_ALPHA = "assocalpha"
UNASSOCIATED_ALPHA = "unassalpha"

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


def to_sample(array: np.ndarray, path: Path, fmt: str, orientation: int, meta: dict[str, Any]) -> Sample:
    """Wrap an (H, W[, C]) array as an upright channels-first :class:`Sample`."""
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


def pil_metadata(image: Any) -> tuple[int, dict[str, Any]]:
    """EXIF orientation, and meta with the ICC profile and the EXIF reset to upright."""
    exif = image.getexif()
    orientation = int(exif.get(ORIENTATION_TAG, 1) or 1)
    meta: dict[str, Any] = {"icc_profile": image.info.get("icc_profile")}
    if len(exif):
        exif[ORIENTATION_TAG] = 1
        meta["exif"] = exif.tobytes()
    return orientation, meta


def white_level(dtype: np.dtype) -> float:
    """255 or 65535 for integer images, 1.0 for float images."""
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).max) if dtype.kind in "ui" else 1.0


def unassociate(data: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Divide premultiplied (C, H, W) colour by its alpha (last channel); alpha 0 gives colour 0."""
    alpha = data[-1:] / white_level(dtype)
    colour = np.divide(data[:-1], alpha, out=np.zeros_like(data[:-1]), where=alpha > 0)
    if np.dtype(dtype).kind in "ui":
        colour = np.minimum(colour, white_level(dtype))
    return np.concatenate([colour, data[-1:]], axis=0)


def to_source_dtype(sample: Sample, straight_alpha: bool = False) -> np.ndarray:
    """Return the data as (H, W, C) in the input's dtype, rounded and clipped.

    With ``straight_alpha``, premultiplied colour (``meta['alpha_type']`` is
    associated alpha, from a TIFF) is divided by alpha first, for formats
    whose alpha is unassociated by definition (PNG).
    """
    data = sample.data
    if straight_alpha and sample.meta.get("has_alpha") and sample.meta.get("alpha_type") == ASSOCIATED_ALPHA:
        data = unassociate(data, sample.source_dtype)
    data = np.moveaxis(data, 0, -1)
    dtype = np.dtype(sample.source_dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        data = np.clip(np.rint(data), info.min, info.max)
    return np.ascontiguousarray(data.astype(dtype))
