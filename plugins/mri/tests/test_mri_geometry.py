"""Scale semantics and the affine of the upsampled grid."""
from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from restore_core.errors import UsageError
from restore_mri.geometry import NiftiGeometry, grid_transform
from restore_mri.nifti import read_nifti
from restore_mri.scale import output_shape, parse_mri_scale, parse_slice_axis


@pytest.mark.parametrize(
    "value, slice_axis, expected",
    [
        (2, 2, (2, 2, 1)),
        ("4", 2, (4, 4, 1)),
        ("2", 0, (1, 2, 2)),
        (2.5, 1, (2.5, 1, 2.5)),
        ("2,2,1", 2, (2, 2, 1)),
        ("1, 1, 3", 0, (1, 1, 3)),  # three factors ignore the slice axis
        ([1, 2, 3], 2, (1, 2, 3)),
        (1, 2, (1, 1, 1)),
    ],
)
def test_parse_mri_scale(value, slice_axis, expected):
    assert parse_mri_scale(value, slice_axis) == expected


@pytest.mark.parametrize(
    "value, needle",
    [("two", "numbers"), ("2,2", "one factor"), ("0.5", ">= 1"), ("2,0,1", ">= 1"), ("nan", ">= 1"), ("inf", ">= 1")],
)
def test_parse_mri_scale_errors(value, needle):
    with pytest.raises(UsageError, match=needle):
        parse_mri_scale(value)


def test_slice_axis_parsing():
    assert parse_slice_axis(None) == 2 and parse_slice_axis("0") == 0 and parse_slice_axis(1) == 1
    assert parse_slice_axis("auto", 0) == 0 and parse_slice_axis("auto", None) == 2
    with pytest.raises(UsageError, match="slice_axis"):
        parse_slice_axis(3)
    with pytest.raises(UsageError, match="slice_axis"):
        parse_slice_axis("z")


def test_output_shape_rounds_per_axis():
    assert output_shape((10, 9, 4), (2, 1.5, 1)) == (20, 14, 4)


@pytest.fixture
def geometry(make_nifti, smooth_volume) -> NiftiGeometry:
    return read_nifti(make_nifti(smooth_volume())).geometry


@pytest.mark.parametrize(
    "factors",
    [parse_mri_scale(2), parse_mri_scale("2,2,1"), parse_mri_scale("1,1,3"), parse_mri_scale(2, slice_axis=0), (1.5, 2, 3)],
)
def test_scaled_affine_divides_columns_and_keeps_voxel_0(geometry, factors):
    scaled = geometry.scaled(factors)
    for name in ("affine", "qform", "sform"):
        old, new = getattr(geometry, name), getattr(scaled, name)
        np.testing.assert_allclose(new[:3, :3], old[:3, :3] / np.asarray(factors)[None, :], atol=1e-12)
        np.testing.assert_allclose(new[:3, 3], old[:3, 3])  # k-space grids coincide at voxel 0
    np.testing.assert_allclose(scaled.zooms, np.asarray(geometry.zooms) / np.asarray(factors))
    assert (scaled.qform_code, scaled.sform_code, scaled.xyz_unit) == (geometry.qform_code, geometry.sform_code, "mm")


def test_slice_axis_0_leaves_the_first_column(geometry):
    scaled = geometry.scaled(parse_mri_scale(2, slice_axis=0))
    np.testing.assert_allclose(scaled.affine[:, 0], geometry.affine[:, 0])
    np.testing.assert_allclose(scaled.affine[:3, 1:3], geometry.affine[:3, 1:3] / 2)


def test_kspace_grid_keeps_every_old_sample_position(geometry):
    """New voxel f*i sits exactly where old voxel i was (the DFT sample grid)."""
    factors = (2.0, 2.0, 3.0)
    scaled = geometry.scaled(factors)
    for ijk in [(0, 0, 0), (3, 1, 2), (5, 4, 1)]:
        np.testing.assert_allclose(scaled.world(np.multiply(ijk, factors)), geometry.world(ijk), atol=1e-9)


def test_centre_alignment_keeps_the_outer_voxel_edges(geometry):
    """Interpolation-style grids shift the origin by (1/f - 1)/2 voxel and keep the FOV's edges."""
    factors, shape = (2.0, 4.0, 1.0), np.array([12, 10, 4])
    scaled = geometry.with_alignment("centre").scaled(factors)
    origin_shift = (1 / np.asarray(factors) - 1) / 2  # (-0.25, -0.375, 0) old voxels
    np.testing.assert_allclose(scaled.world((0, 0, 0)), geometry.world(origin_shift), atol=1e-9)
    np.testing.assert_allclose(scaled.world(-0.5 * np.ones(3)), geometry.world(-0.5 * np.ones(3)), atol=1e-9)
    far_edge = shape * np.asarray(factors) - 0.5
    np.testing.assert_allclose(scaled.world(far_edge), geometry.world(shape - 0.5), atol=1e-9)


def test_grid_transform_rejects_bad_input():
    with pytest.raises(ValueError):
        grid_transform((2, 2), "kspace")
    with pytest.raises(ValueError):
        grid_transform((2, 2, 1), "cubic")


def test_written_file_has_the_scaled_geometry(tmp_path, make_nifti, smooth_volume):
    """A restored file's affine (qform and sform) and zooms follow the new grid; codes stay."""
    from restore_mri.nifti import write_nifti

    sample = read_nifti(make_nifti(smooth_volume((12, 10, 4))))
    up = sample.resampled(np.zeros((1, 24, 20, 12), np.float32))
    write_nifti(up, tmp_path / "up.nii.gz")
    image = nib.load(str(tmp_path / "up.nii.gz"))
    expected = sample.geometry.affine @ np.diag([0.5, 0.5, 1 / 3, 1.0])
    np.testing.assert_allclose(image.get_sform(), expected, atol=1e-5)
    np.testing.assert_allclose(image.get_qform(), expected, atol=1e-5)
    np.testing.assert_allclose(image.header.get_zooms(), (0.45, 0.55, 1.0), rtol=1e-6)
    assert int(image.header["qform_code"]) == 1 and int(image.header["sform_code"]) == 4
