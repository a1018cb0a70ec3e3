"""JPEG through Pillow: 8-bit grey or RGB, with EXIF and ICC profile."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from restore_core.errors import UsageError
from restore_core.sample import Sample
from restore_image.io_common import pil_metadata, to_sample, to_source_dtype


def read_jpeg(path: Path, cfg: Any = None) -> Sample:
    """Read a JPEG (8-bit grey or colour; CMYK and YCbCr are converted to RGB).

    An ICC profile describes the decoded colour model: after a conversion
    (e.g. CMYK to RGB) it no longer fits the pixels, so it is dropped and
    ``meta['icc_profile_dropped']`` says why.
    """
    from PIL import Image

    with Image.open(path) as image:
        orientation, meta = pil_metadata(image)
        image.load()
        if image.mode not in ("L", "RGB"):
            if meta.get("icc_profile"):
                meta["icc_profile"] = None
                meta["icc_profile_dropped"] = f"the embedded profile is for {image.mode}, the pixels were converted to RGB"
            image = image.convert("RGB")
        array = np.asarray(image)
    return to_sample(array, path, "jpeg", orientation, meta)


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
