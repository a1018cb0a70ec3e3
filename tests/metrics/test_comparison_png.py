"""The labelled comparison PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restore_core.metrics import side_by_side_png
from restore_core.metrics.comparison_png import LABEL_HEIGHT, PANEL_GAP


def test_panels_are_upsampled_to_the_largest_and_labelled(tmp_path: Path) -> None:
    low_res = np.array([[0, 65535], [65535, 0]], dtype=np.uint16)  # 2x2, 16-bit
    restored = np.kron(low_res, np.ones((2, 2), dtype=np.uint16))  # 4x4
    out = side_by_side_png([low_res, restored], ["input", "restored"], tmp_path / "sub" / "cmp.png")

    canvas = np.asarray(Image.open(out))
    panel = (canvas.shape[1] - PANEL_GAP) // 2
    assert canvas.shape == (panel + LABEL_HEIGHT, 2 * panel + PANEL_GAP, 3)
    left = canvas[LABEL_HEIGHT:, :panel, 0]
    right = canvas[LABEL_HEIGHT:, panel + PANEL_GAP :, 0]
    np.testing.assert_array_equal(left, right)  # nearest upsampling of the same pattern
    assert {int(left.min()), int(left.max())} == {0, 255}  # 16-bit mapped to full display range
    assert canvas[:LABEL_HEIGHT].max() > 200  # label text was drawn (anti-aliased)


def test_float_rgb_and_uint8_inputs(tmp_path: Path) -> None:
    rgb_channel_first = np.random.default_rng(0).random((3, 40, 40)).astype(np.float32)
    grey_uint8 = np.full((40, 40), 7, dtype=np.uint8)
    out = side_by_side_png(
        [rgb_channel_first, grey_uint8], ["a", "b"], tmp_path / "cmp.png", display_range=(0, 1)
    )
    canvas = np.asarray(Image.open(out))
    width = (canvas.shape[1] - PANEL_GAP) // 2
    assert (canvas[LABEL_HEIGHT:, width + PANEL_GAP :] == 7).all()  # uint8 is shown unchanged
    assert canvas[LABEL_HEIGHT:, :width].std() > 30  # float RGB noise is visible


def test_volumes_show_their_middle_slice(tmp_path: Path) -> None:
    volume = np.zeros((1, 5, 6, 6), dtype=np.float32)
    volume[0, 2] = 1.0  # only the middle slice is bright
    out = side_by_side_png([volume], ["volume"], tmp_path / "v.png", display_range=(0, 1))
    assert (np.asarray(Image.open(out))[LABEL_HEIGHT:] == 255).all()


def test_rejects_mismatched_labels_and_bad_shapes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one label per image"):
        side_by_side_png([np.zeros((4, 4))], ["a", "b"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="expected an image"):
        side_by_side_png([np.zeros((4, 4, 4, 4))], ["a"], tmp_path / "x.png")
