"""Alpha channels are not images to restore: split them off, upscale them plainly."""
from __future__ import annotations

from typing import Callable

import numpy as np

from restore_core.sample import Sample
from restore_core.sample import dtype_range
from restore_image.bicubic import bicubic_resize
from restore_image.io_common import ASSOCIATED_ALPHA, white_level


def split_alpha(sample: Sample) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (colour channels, alpha channel or None) of a (C, H, W) sample."""
    if sample.meta.get("has_alpha") and sample.channels in (2, 4):
        return sample.data[:-1], sample.data[-1:]
    return sample.data, None


def straight_alpha_weight(sample: Sample) -> np.ndarray | None:
    """Alpha scaled to [0, 1] when the colour is straight (not premultiplied), else None."""
    _, alpha = split_alpha(sample)
    if alpha is None or sample.meta.get("alpha_type") == ASSOCIATED_ALPHA:
        return None
    return alpha / white_level(sample.source_dtype)


def restore_colour_keep_alpha(
    sample: Sample, restore_colour: Callable[[np.ndarray], np.ndarray], size: tuple[int, int]
) -> Sample:
    """Restore the colour channels with ``restore_colour``; upscale alpha by bicubic.

    The method never sees the alpha channel, so a model trained on RGB images
    works on RGBA inputs and the transparency mask keeps its sharp edges.
    """
    colour, alpha = split_alpha(sample)
    restored = restore_colour(colour)
    if restored.shape[1:] != size:
        raise ValueError(f"method returned {restored.shape[1:]}, expected {size}")
    if alpha is not None:
        restored = np.concatenate([restored, bicubic_resize(alpha, size, dtype_range(sample.source_dtype))], axis=0)
    return sample.resampled(restored.astype(np.float32))
