"""The band rule for models with fewer channels than the scene has bands (issue 5, item 5)."""
from __future__ import annotations

import numpy as np
import pytest
from rasterio.enums import ColorInterp

from restore_core.errors import UsageError
from restore_remote_sensing.bands import apply_band_rule, band_rule
from restore_remote_sensing.bicubic import bicubic_upsample

RGBN = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.undefined]


def model_marks(data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """A stand-in model: upsample ×2 and add 1000 to every value, so its bands are recognisable."""
    assert data.shape[0] == 3  # the model always gets exactly its channels
    return bicubic_upsample(data, 2) + 1000.0


def bicubic(data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return bicubic_upsample(data, 2)


def test_rgb_through_the_model_and_nir_through_bicubic_in_original_order():
    data = np.stack([np.full((4, 4), v, np.float32) for v in (10, 20, 30, 40)])
    rule = band_rule(4, RGBN, "auto")
    assert rule.model_groups == ((0, 1, 2),) and rule.bicubic_bands == (3,)
    out = apply_band_rule(data, np.ones_like(data, bool), rule, model_marks, bicubic)
    assert out.shape == (4, 8, 8)
    np.testing.assert_allclose(out[:, 0, 0], [1010, 1020, 1030, 40], atol=1e-3)  # NIR kept, not dropped


def test_auto_follows_colour_interpretation_and_explicit_bands_win():
    bgrn = [ColorInterp.blue, ColorInterp.green, ColorInterp.red, ColorInterp.undefined]
    assert band_rule(4, bgrn, "auto").model_groups == ((2, 1, 0),)
    assert band_rule(4, [ColorInterp.gray] * 4, "auto").model_groups == ((0, 1, 2),)
    landsat = band_rule(7, [ColorInterp.gray] * 7, [4, 3, 2])
    assert landsat.model_groups == ((3, 2, 1),) and landsat.bicubic_bands == (0, 4, 5, 6)
    assert "bicubic: bands 1, 5, 6, 7" in landsat.describe()


def test_single_band_scenes_are_replicated_and_averaged_back():
    data = np.full((1, 4, 4), 7.0, np.float32)
    rule = band_rule(1, [ColorInterp.gray], "auto")
    assert rule.model_groups == ((0, 0, 0),) and rule.bicubic_bands == ()
    out = apply_band_rule(data, np.ones_like(data, bool), rule, model_marks, bicubic)
    assert out.shape == (1, 8, 8)
    np.testing.assert_allclose(out, 1007.0, atol=1e-3)


@pytest.mark.parametrize("rgb", [[1, 2], [1, 2, 9], [1, 1, 2], "red"])
def test_invalid_band_lists_are_usage_errors(rgb):
    with pytest.raises(UsageError, match="bands.rgb"):
        band_rule(4, RGBN, rgb)
