"""NIfTI I/O: sniffing, 3D/4D layout, header round trip, dtype policy."""
from __future__ import annotations

import dataclasses
import gzip

import nibabel as nib
import numpy as np
import pytest
from omegaconf import OmegaConf

from restore_mri.geometry import NiftiGeometry
from restore_mri.nifti import read_nifti, sniff_nifti, write_nifti


@pytest.mark.parametrize("name, version", [("a.nii", 1), ("a.nii.gz", 1), ("b.nii", 2), ("b.nii.gz", 2)])
def test_sniff_recognises_nifti_plain_and_gzipped(make_nifti, smooth_volume, name, version):
    path = make_nifti(smooth_volume(), name=name, version=version)
    assert sniff_nifti(path.read_bytes()[:512])
    assert read_nifti(path).meta["nifti_version"] == version


def test_sniff_rejects_other_files():
    assert not sniff_nifti(b"\x89PNG\r\n\x1a\n" + b"\x00" * 600)
    assert not sniff_nifti(gzip.compress(b"hello world" * 100)[:512])
    assert not sniff_nifti(b"\x1f\x8b garbage")


def test_3d_volume_reads_as_one_channel_float32_in_real_units(make_nifti, smooth_volume):
    volume = smooth_volume((6, 5, 4))
    path = make_nifti(np.rint(volume).astype(np.int16), name="int.nii.gz", scl_slope=0.5, scl_inter=10.0)
    sample = read_nifti(path)
    assert sample.spatial_dims == 3 and sample.data.shape == (1, 6, 5, 4) and sample.data.dtype == np.float32
    assert sample.source_dtype == np.int16
    np.testing.assert_allclose(sample.data[0], np.rint(volume) * 0.5 + 10.0)


def test_4d_series_reads_frames_as_channels(make_nifti, smooth_volume):
    series = smooth_volume((6, 5, 4, 3))
    sample = read_nifti(make_nifti(series))
    assert sample.data.shape == (3, 6, 5, 4)
    np.testing.assert_allclose(sample.data[2], series[..., 2], rtol=1e-6)


def header_bits(path):
    header = nib.load(str(path)).header
    return {
        "qform_code": int(header["qform_code"]),
        "sform_code": int(header["sform_code"]),
        "units": header.get_xyzt_units(),
        "descrip": bytes(header["descrip"]),
        "dim_info": header.get_dim_info(),
    }


@pytest.mark.parametrize("name", ["vol.nii", "vol.nii.gz"])
def test_round_trip_keeps_affines_codes_units_description(tmp_path, make_nifti, smooth_volume, oblique_affine, name):
    source = make_nifti(smooth_volume(), name=name)
    target = tmp_path / f"out_{name}"
    write_nifti(read_nifti(source), target)
    assert header_bits(target) == header_bits(source)
    original, written = nib.load(str(source)), nib.load(str(target))
    np.testing.assert_allclose(written.get_sform(), oblique_affine, atol=1e-5)
    np.testing.assert_allclose(written.get_qform(), oblique_affine, atol=1e-5)
    np.testing.assert_allclose(written.header.get_zooms(), original.header.get_zooms(), rtol=1e-6)
    np.testing.assert_array_equal(written.get_fdata(), original.get_fdata())
    assert written.get_data_dtype() == np.float32
    assert (target.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")


def test_4d_round_trip_keeps_tr(tmp_path, make_nifti, smooth_volume):
    source = make_nifti(smooth_volume((6, 5, 4, 2)))
    target = tmp_path / "series.nii.gz"
    write_nifti(read_nifti(source), target)
    image = nib.load(str(target))
    assert image.shape == (6, 5, 4, 2) and image.header.get_zooms()[3] == pytest.approx(2500.0)


def test_float32_unless_keep_dtype(tmp_path, make_nifti, smooth_volume):
    volume = np.rint(smooth_volume((6, 5, 4)))
    sample = read_nifti(make_nifti(volume.astype(np.uint16), scl_slope=2.0, scl_inter=-5.0))
    sample = dataclasses.replace(sample, data=sample.data + 0.3)  # a method's non-integer output
    plain, kept = tmp_path / "plain.nii", tmp_path / "kept.nii"
    write_nifti(sample, plain, OmegaConf.create({"io": {"keep_dtype": False}}))
    write_nifti(sample, kept, OmegaConf.create({"io": {"keep_dtype": True}}))
    assert nib.load(str(plain)).get_data_dtype() == np.float32
    np.testing.assert_allclose(nib.load(str(plain)).get_fdata(), sample.data[0], rtol=1e-6)
    image = nib.load(str(kept))
    assert image.get_data_dtype() == np.uint16 and (image.dataobj.slope, image.dataobj.inter) == (2.0, -5.0)
    np.testing.assert_allclose(image.get_fdata(), volume * 2.0 - 5.0)  # rounded back to the stored grid


def test_keep_dtype_clips_to_the_type(tmp_path, make_nifti, smooth_volume):
    sample = read_nifti(make_nifti(np.full((4, 4, 2), 200, np.uint8)))
    sample = dataclasses.replace(sample, data=np.full((1, 4, 4, 2), 300.0, np.float32))
    write_nifti(sample, tmp_path / "clipped.nii", OmegaConf.create({"io": {"keep_dtype": True}}))
    assert nib.load(str(tmp_path / "clipped.nii")).get_fdata().max() == 255


def test_geometry_is_read_from_the_header(make_nifti, smooth_volume, oblique_affine):
    geometry = read_nifti(make_nifti(smooth_volume())).geometry
    assert isinstance(geometry, NiftiGeometry)
    assert (geometry.qform_code, geometry.sform_code, geometry.xyz_unit, geometry.t_unit) == (1, 4, "mm", "msec")
    np.testing.assert_allclose(geometry.affine, oblique_affine, atol=1e-6)
    np.testing.assert_allclose(geometry.zooms, (0.9, 1.1, 3.0), rtol=1e-6)


def test_real_b0_volume_reads(mri_data):
    sample = read_nifti(mri_data / "S0_10slices.nii.gz")
    assert sample.data.shape == (1, 128, 128, 10) and sample.meta["ndim"] == 4
    assert sample.source_dtype == np.uint16 and 0 <= sample.data.min() and sample.data.max() <= 4095
