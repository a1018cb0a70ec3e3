"""What each output format can hold, checked before any restoration work starts."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from restore_core.sample import Sample


def check_jpeg(sample: Sample, path: Path) -> None:
    """JPEG stores 8-bit grey or RGB only."""
    if np.dtype(sample.source_dtype) != np.uint8:
        raise ValueError(f"JPEG cannot store {np.dtype(sample.source_dtype)} data; write .png or .tif")
    if sample.meta.get("has_alpha"):
        raise ValueError("JPEG cannot store an alpha channel; write .png or .tif")


def check_png(sample: Sample, path: Path) -> None:
    """PNG stores 8- or 16-bit integers only."""
    if np.dtype(sample.source_dtype) not in (np.dtype(np.uint8), np.dtype(np.uint16)):
        raise ValueError(f"PNG stores 8- or 16-bit integers, not {np.dtype(sample.source_dtype)}; write .tif")
