"""Read and write PNG, JPEG and TIFF images faithfully.

8- and 16-bit (and float32 TIFF); grey, grey+alpha, RGB, RGBA.  EXIF
orientation is applied on reading (and reset to 1 in the written EXIF so
viewers do not rotate twice); the ICC profile is carried to the output unless
the pixels were converted to another colour model; the output dtype equals
the input's.  The format modules are :mod:`restore_image.io_png`,
:mod:`restore_image.io_jpeg` and :mod:`restore_image.io_tiff`; this module
gathers their public names for the plugin's hooks.
"""
from __future__ import annotations

from restore_image.io_common import (
    ASSOCIATED_ALPHA,
    ICC_TIFF_TAG,
    JPEG_MAGIC,
    ORIENTATION_TAG,
    ORIENTATIONS,
    PNG_MAGIC,
    SUPPORTED_DTYPES,
    TIFF_MAGICS,
    UNASSOCIATED_ALPHA,
    sniff_jpeg,
    sniff_png,
    sniff_tiff,
    to_source_dtype,
)
from restore_image.io_jpeg import read_jpeg, write_jpeg
from restore_image.io_png import read_png, write_png
from restore_image.io_tiff import read_tiff, write_tiff

__all__ = [
    "ASSOCIATED_ALPHA",
    "ICC_TIFF_TAG",
    "JPEG_MAGIC",
    "ORIENTATION_TAG",
    "ORIENTATIONS",
    "PNG_MAGIC",
    "SUPPORTED_DTYPES",
    "TIFF_MAGICS",
    "UNASSOCIATED_ALPHA",
    "read_jpeg",
    "read_png",
    "read_tiff",
    "sniff_jpeg",
    "sniff_png",
    "sniff_tiff",
    "to_source_dtype",
    "write_jpeg",
    "write_png",
    "write_tiff",
]
