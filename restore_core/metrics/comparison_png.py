"""A labelled side-by-side PNG (input | restored | reference ...) for eyeballing results."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from restore_core.atomic import atomic_output

LABEL_HEIGHT = 18
PANEL_GAP = 4
MIN_PANEL_WIDTH = 128


def _to_height_width_channels(image: np.ndarray) -> np.ndarray:
    """``(H, W)``, ``(H, W, 1|3)``, ``(1|3, H, W)`` or a volume ``(1|3, D, H, W)`` -> ``(H, W, 1|3)``.

    A volume is shown by its middle slice along D.
    """
    if image.ndim == 4 and image.shape[0] in (1, 3):
        image = image[:, image.shape[1] // 2]
    if image.ndim == 2:
        return image[:, :, None]
    if image.ndim == 3 and image.shape[-1] in (1, 3):
        return image
    if image.ndim == 3 and image.shape[0] in (1, 3):
        return np.moveaxis(image, 0, -1)
    raise ValueError(
        f"expected an image (H, W), (H, W, 1|3), (1|3, H, W) or a volume (1|3, D, H, W); "
        f"got shape {image.shape}"
    )


def _to_uint8(image: np.ndarray, display_range: tuple[float, float]) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    low, high = display_range
    scaled = (image.astype(np.float64) - low) / max(high - low, np.finfo(np.float64).tiny)
    return np.round(np.clip(np.nan_to_num(scaled), 0.0, 1.0) * 255.0).astype(np.uint8)


def _joint_display_range(images: Sequence[np.ndarray]) -> tuple[float, float]:
    """min/max over all non-uint8 images, so panels share one grey scale."""
    non_uint8 = [image for image in images if image.dtype != np.uint8]
    if not non_uint8:
        return (0.0, 255.0)
    low = min(float(np.nanmin(image)) for image in non_uint8)
    high = max(float(np.nanmax(image)) for image in non_uint8)
    return (low, high)


def side_by_side_png(
    images: Sequence[np.ndarray],
    labels: Sequence[str],
    path: str | Path,
    display_range: tuple[float, float] | None = None,
) -> Path:
    """Write ``images`` left to right, each under its label, as one RGB PNG.

    Smaller images are nearest-upsampled to the largest height and width (and
    tiny ones enlarged so labels fit); channel-first volumes ``(C, D, H, W)``
    show their middle D slice. ``uint8`` images are shown as they are;
    16-bit and float images are mapped linearly from ``display_range`` (default:
    their joint min/max) to 0..255.
    """
    from PIL import Image, ImageDraw

    if len(images) != len(labels) or not images:
        raise ValueError(
            f"need one label per image and at least one image; got {len(images)} and {len(labels)}"
        )
    arrays = [_to_height_width_channels(np.asarray(image)) for image in images]
    value_range = display_range if display_range is not None else _joint_display_range(arrays)
    height = max(array.shape[0] for array in arrays)
    width = max(array.shape[1] for array in arrays)
    enlarge = max(1, math.ceil(MIN_PANEL_WIDTH / width))
    height, width = height * enlarge, width * enlarge

    canvas_width = len(arrays) * width + (len(arrays) - 1) * PANEL_GAP
    canvas = Image.new("RGB", (canvas_width, height + LABEL_HEIGHT), color=(0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    for index, (array, label) in enumerate(zip(arrays, labels, strict=True)):
        pixels = _to_uint8(array, value_range)
        panel = Image.fromarray(pixels[:, :, 0] if pixels.shape[-1] == 1 else pixels).convert("RGB")
        panel = panel.resize((width, height), resample=Image.Resampling.NEAREST)
        left = index * (width + PANEL_GAP)
        canvas.paste(panel, (left, LABEL_HEIGHT))
        draw.text((left + 2, 2), str(label), fill=(255, 255, 255))

    with atomic_output(path) as temp:
        canvas.save(temp, format="PNG")
    return Path(path)
