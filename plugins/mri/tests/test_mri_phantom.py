"""Contrast simulation from the MNI152 tissue maps."""
from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pytest

from restore_core.errors import InputError
from restore_mri.phantom import (
    SEQUENCES,
    TISSUE_PARAMETERS,
    Tissue,
    TissueMaps,
    bias_field,
    contrast_image,
    find_mni_folder,
    load_tissue_maps,
    make_sample_volumes,
    simulate,
    spin_echo_signal,
)

SLAB = (slice(None), slice(None), slice(70, 90))  # through the ventricles


@pytest.fixture(scope="module")
def maps(mri_data) -> TissueMaps:
    return load_tissue_maps(mri_data).crop(SLAB)


def test_spin_echo_equation():
    tissue, sequence = Tissue(t1=1000, t2=100, pd=0.8), SEQUENCES["T2w"]
    expected = 0.8 * (1 - math.exp(-4000 / 1000)) * math.exp(-100 / 100)
    assert spin_echo_signal(tissue, sequence) == pytest.approx(expected)


def test_tissue_fractions(maps):
    fractions = maps.fractions
    total = fractions["gm"] + fractions["wm"] + fractions["csf"]
    assert total.max() <= 1.0 + 1e-5 and min(f.min() for f in fractions.values()) >= 0
    pure_csf = fractions["csf"] > 0.9
    assert 1000 < pure_csf.sum() < 0.2 * (total > 0.5).sum()  # ventricles and sulci, not the whole head
    np.testing.assert_allclose(maps.affine[:3, 3], [-98, -134, -72 + 70])


@pytest.mark.parametrize("field", sorted(TISSUE_PARAMETERS))
def test_contrast_ordering_of_pure_tissues(maps, field):
    def means(contrast: str) -> dict[str, float]:
        image = contrast_image(maps, contrast, field)
        return {t: float(image[maps.fractions[t] > 0.9].mean()) for t in ("csf", "gm", "wm")}

    t1w, t2w, pdw = means("T1w"), means("T2w"), means("PDw")
    assert t1w["wm"] > t1w["gm"] > t1w["csf"]
    assert t2w["csf"] > t2w["gm"] > t2w["wm"]
    assert pdw["gm"] > pdw["wm"]
    if field == "1.5T":  # CSF is brightest only when TR >> T1_csf (about 4.3 s at 3 T, 2.6 s in BrainWeb)
        assert pdw["csf"] > pdw["gm"]


def test_ordering_survives_bias_scale_and_noise(maps):
    maps = maps.crop((slice(None), slice(None), slice(8, 12)))
    image = simulate(maps, "T1w", np.random.default_rng(0), bias_strength=0.3, noise=0.02)
    assert image.dtype == np.float32 and image.shape == maps.fractions["gm"].shape
    median = {t: float(np.median(image[maps.fractions[t] > 0.9])) for t in ("csf", "gm", "wm")}
    assert median["wm"] > median["gm"] > median["csf"]
    background = image[(maps.fractions["gm"] + maps.fractions["wm"] + maps.fractions["csf"]) == 0]
    assert background.mean() == pytest.approx(0.02 * 1000 * math.sqrt(math.pi / 2), rel=0.05)  # Rician floor


def test_simulation_is_reproducible_and_scaled(maps):
    a = simulate(maps, "PDw", np.random.default_rng(5))
    b = simulate(maps, "PDw", np.random.default_rng(5))
    c = simulate(maps, "PDw", np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert 800 <= a.max() <= 1200  # peak 1000 +- 20 % intensity jitter


def test_bias_field_is_smooth_and_mean_one():
    field = bias_field((32, 32, 8), np.random.default_rng(0), strength=0.3)
    assert field.mean() == pytest.approx(1.0, rel=1e-5)
    assert 0.3 < field.min() and field.max() < 3.0
    assert np.abs(np.diff(field, axis=0)).max() < 0.1  # no voxel-scale structure
    np.testing.assert_array_equal(bias_field((4, 4, 4), np.random.default_rng(0), strength=0), np.ones((4, 4, 4)))


def test_missing_maps_are_reported(tmp_path):
    with pytest.raises(InputError, match="mni_icbm152_gm"):
        find_mni_folder(tmp_path)


def test_make_sample_volumes(tmp_path, mri_data):
    slab = (slice(40, 104), slice(60, 124), slice(80, 84))
    written = make_sample_volumes(mri_data, tmp_path, slab=slab)
    assert sorted(p.name for p in written) == ["pd.nii.gz", "t1.nii.gz", "t2.nii.gz", "t2_lr.nii.gz"]
    hr, lr = nib.load(str(tmp_path / "t2.nii.gz")), nib.load(str(tmp_path / "t2_lr.nii.gz"))
    assert hr.shape == (64, 64, 4) and lr.shape == (32, 32, 4) and lr.get_data_dtype() == np.int16
    np.testing.assert_allclose(lr.affine, hr.affine @ np.diag([2, 2, 1, 1]))
    assert lr.get_fdata().mean() == pytest.approx(hr.get_fdata().mean(), rel=0.01)
