"""TIFF through tifffile: grey, RGB and palette images with their alpha kind, ICC profile and orientation."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from restore_core.errors import InputError
from restore_core.sample import Sample
from restore_image.io_common import (
    ASSOCIATED_ALPHA,
    ICC_TIFF_TAG,
    ORIENTATION_TAG,
    UNASSOCIATED_ALPHA,
    to_sample,
    to_source_dtype,
)

MINISWHITE, MINISBLACK, RGB, PALETTE, YCBCR = 0, 1, 2, 3, 6
JPEG_COMPRESSIONS = {6, 7, 33007, 34892}  # tifffile decodes YCbCr to RGB for these
ALPHA_KINDS = {1: ASSOCIATED_ALPHA, 2: UNASSOCIATED_ALPHA}  # TIFF ExtraSamples values


def _enum_name(enum: Any, value: int) -> str:
    try:
        return str(enum(value).name)
    except ValueError:
        return str(value)


def _colour_model(page: Any, path: Path) -> tuple[int, str | None]:
    """The page's photometric and alpha kind; refuses what cannot be read as grey or RGB."""
    from tifffile import EXTRASAMPLE, PHOTOMETRIC

    photometric = int(page.photometric)
    name = _enum_name(PHOTOMETRIC, photometric)
    if photometric == YCBCR and int(page.compression) not in JPEG_COMPRESSIONS:
        raise InputError(path, "unsupported TIFF colour model (photometric YCBCR without JPEG compression)")
    if photometric not in (MINISWHITE, MINISBLACK, RGB, PALETTE, YCBCR):
        detail = " (CMYK)" if name == "SEPARATED" else ""
        raise InputError(path, f"unsupported TIFF colour model (photometric {name}{detail}); expected grey, RGB or palette")
    extras = [int(e) for e in page.extrasamples]
    colour = 3 if photometric in (RGB, YCBCR) else 1
    if int(page.samplesperpixel) != colour + len(extras):
        raise InputError(path, f"{int(page.samplesperpixel)} samples per pixel do not fit photometric {name}")
    if not extras:
        return photometric, None
    if len(extras) > 1 or extras[0] not in ALPHA_KINDS or photometric == PALETTE:
        kinds = ", ".join(_enum_name(EXTRASAMPLE, e) for e in extras)
        raise InputError(path, f"unsupported TIFF extra samples ({kinds}) with photometric {name}; only one alpha is read")
    return photometric, ALPHA_KINDS[extras[0]]


def _palette_lut(colormap: np.ndarray) -> np.ndarray:
    """The (N, 3) RGB lookup table, in uint8 when the colormap has 8-bit precision, else uint16."""
    colormap = np.asarray(colormap, dtype=np.uint16)
    if colormap.max() < 256:  # a non-standard 8-bit colormap (libtiff's heuristic)
        return colormap.T.astype(np.uint8)
    if np.all(colormap % 257 == 0) or np.all(colormap % 256 == 0):  # v * 257 or v << 8
        return (colormap.T >> 8).astype(np.uint8)
    return np.ascontiguousarray(colormap.T)


def _invert(array: np.ndarray, path: Path) -> np.ndarray:
    """MinIsWhite -> MinIsBlack on the grey channel (alpha, if any, is kept)."""
    grey = array[..., :1] if array.ndim == 3 else array
    if grey.dtype == np.bool_:
        inverted = ~grey
    elif grey.dtype.kind in "ui":
        inverted = np.iinfo(grey.dtype).max - grey
    else:
        raise InputError(path, f"MinIsWhite {grey.dtype} TIFF has no defined white level; expected integer samples")
    return np.concatenate([inverted, array[..., 1:]], axis=-1) if array.ndim == 3 else inverted


def read_tiff(path: Path, cfg: Any = None) -> Sample:
    """Read the first image of a TIFF (chunky or planar; 1/8/16-bit or float32).

    Palette images are expanded to RGB (8- or 16-bit, as precise as the
    colormap); MinIsWhite grey is inverted to MinIsBlack, the photometric
    every TIFF is written with; 1-bit images become 0/255 uint8.  The alpha
    kind (associated = premultiplied, or not) is kept in ``meta['alpha_type']``.
    CMYK, Lab, raw YCbCr and extra samples that are not alpha are refused.
    """
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        photometric, alpha_type = _colour_model(page, path)
        photometric_name = _enum_name(tifffile.PHOTOMETRIC, photometric).lower()
        series = tif.series[0]
        axes = series.axes
        array = series.asarray()
        colormap = page.colormap if photometric == PALETTE else None
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
    if photometric == PALETTE:
        if colormap is None or array.ndim != 2:
            raise InputError(path, "palette TIFF without a colormap or with more than one sample per pixel")
        array = _palette_lut(colormap)[array]
    elif photometric == MINISWHITE:
        array = _invert(array, path)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    meta: dict[str, Any] = {"icc_profile": bytes(icc) if icc else None, "tiff_photometric": photometric_name}
    if alpha_type:
        meta["alpha_type"] = alpha_type
    return to_sample(array, path, "tiff", orientation, meta)


def write_tiff(sample: Sample, path: Path, cfg: Any = None) -> None:
    """Write a zlib-compressed MinIsBlack or RGB TIFF with ICC profile, keeping the alpha kind."""
    import tifffile

    array = to_source_dtype(sample)
    channels = array.shape[2]
    photometric = "rgb" if channels >= 3 else "minisblack"
    icc = sample.meta.get("icc_profile")
    extratags = [(ICC_TIFF_TAG, 7, len(icc), icc, True)] if icc else []
    alpha_type = sample.meta.get("alpha_type") or UNASSOCIATED_ALPHA
    tifffile.imwrite(
        path,
        array[:, :, 0] if channels == 1 else array,
        photometric=photometric,
        extrasamples=[alpha_type] if channels in (2, 4) else None,
        compression="zlib",
        extratags=extratags,
        metadata=None,
    )
