"""End to end through ``restore``: sinc baseline, 4D series, scale options, simulate command."""
from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import torch

from restore_core.cli import main
from restore_core.plugins import load_plugin
from restore_mri.kspace import kspace_truncate
from restore_mri.sinc import sinc_upsample


def run(*args: str) -> int:
    return main(["--quiet", *args])


def test_plugin_registers_everything():
    registry = load_plugin("mri").registry
    assert registry is not None
    assert registry.default_method() == "r2d2"
    assert {"sinc", "r2d2", "disc-diff"} <= set(registry.names("methods"))
    assert {"kspace", "thick_slices", "rician", "kspace_rician"} <= set(registry.names("degradations"))
    assert registry.names("commands") == ["simulate"]
    degrade = registry.get("degradations", "kspace").factory(scale=2)  # as restore eval calls it
    assert degrade(torch.rand(1, 1, 8, 8, 2), None).shape == (1, 1, 4, 4, 2)


def test_sinc_end_to_end(tmp_path, make_nifti, smooth_volume):
    volume = smooth_volume((12, 10, 4))
    source = make_nifti(volume, name="lr.nii.gz")
    target = tmp_path / "sr.nii.gz"
    assert run("--plugin", "mri", "--method", "sinc", str(source), "-o", str(target), "sinc.clip=false") == 0
    image, original = nib.load(str(target)), nib.load(str(source))
    assert image.shape == (24, 20, 4) and image.get_data_dtype() == np.float32
    np.testing.assert_allclose(image.affine, original.affine @ np.diag([0.5, 0.5, 1, 1]), atol=1e-5)
    np.testing.assert_allclose(image.affine[:3, 3], original.affine[:3, 3], atol=1e-5)  # voxel 0 stays
    assert image.header["descrip"].item() == b"restore test volume"
    data = image.get_fdata()
    lr_again = kspace_truncate(torch.from_numpy(data), (2, 2), (0, 1)).numpy()
    np.testing.assert_allclose(lr_again, volume, atol=1e-3)  # the baseline is consistent with its input
    assert (tmp_path / "sr.nii.gz.yaml").is_file()


def test_plugin_and_method_are_found_without_flags(tmp_path, make_nifti, smooth_volume):
    source = make_nifti(smooth_volume((8, 8, 2)), name="auto.nii")
    assert run(str(source)) == 0
    assert nib.load(str(tmp_path / "auto_restored.nii")).shape == (16, 16, 2)


def test_4d_series_is_restored_frame_by_frame(tmp_path, make_nifti, smooth_volume):
    series = smooth_volume((8, 6, 3, 3))
    source = make_nifti(series, name="series.nii.gz")
    target = tmp_path / "series_sr.nii.gz"
    assert run("--plugin", "mri", "--method", "sinc", str(source), "-o", str(target), "--scale", "2") == 0
    image = nib.load(str(target))
    assert image.shape == (16, 12, 3, 3) and image.header.get_zooms()[3] == pytest.approx(2500.0)
    for t in range(3):
        expected = np.clip(sinc_upsample(series[..., t], (16, 12, 3)), series[..., t].min(), series[..., t].max())
        np.testing.assert_allclose(image.get_fdata()[..., t], expected, rtol=1e-6)


@pytest.mark.parametrize(
    "options, shape, factors",
    [
        (["--scale", "1,1,3"], (8, 6, 12), (1, 1, 3)),
        (["--scale", "2,2,1"], (16, 12, 4), (2, 2, 1)),
        (["--scale", "2", "slice_axis=0"], (8, 12, 8), (1, 2, 2)),
        (["--scale", "2", "--slice-axis", "0"], (8, 12, 8), (1, 2, 2)),
    ],
)
def test_scale_options(tmp_path, make_nifti, smooth_volume, options, shape, factors):
    source = make_nifti(smooth_volume((8, 6, 4)), name="v.nii")
    target = tmp_path / "out.nii"
    assert run("--plugin", "mri", "--method", "sinc", str(source), "-o", str(target), *options) == 0
    image, original = nib.load(str(target)), nib.load(str(source))
    assert image.shape == shape
    np.testing.assert_allclose(image.affine, original.affine @ np.diag([*(1 / np.array(factors)), 1]), atol=1e-5)
    np.testing.assert_allclose(image.header.get_zooms(), np.array(original.header.get_zooms()) / factors, rtol=1e-6)


def test_keep_dtype_option(tmp_path, make_nifti, smooth_volume):
    source = make_nifti(np.rint(smooth_volume((8, 6, 2))).astype(np.int16), name="int.nii")
    assert run("--plugin", "mri", "--method", "sinc", str(source), "-o", str(tmp_path / "kept.nii"), "io.keep_dtype=true") == 0
    assert run("--plugin", "mri", "--method", "sinc", str(source), "-o", str(tmp_path / "flag.nii"), "--keep-dtype") == 0
    assert run("--plugin", "mri", "--method", "sinc", str(source), "-o", str(tmp_path / "float.nii")) == 0
    assert nib.load(str(tmp_path / "kept.nii")).get_data_dtype() == np.int16
    assert nib.load(str(tmp_path / "flag.nii")).get_data_dtype() == np.int16
    assert nib.load(str(tmp_path / "float.nii")).get_data_dtype() == np.float32


def test_real_b0_volume(tmp_path, mri_data):
    target = tmp_path / "b0_x2.nii.gz"
    assert run("--plugin", "mri", "--method", "sinc", str(mri_data / "S0_10slices.nii.gz"), "-o", str(target)) == 0
    image, original = nib.load(str(target)), nib.load(str(mri_data / "S0_10slices.nii.gz"))
    assert image.shape == (256, 256, 10, 1)
    np.testing.assert_allclose(image.affine[:3, 3], original.affine[:3, 3], atol=1e-4)
    assert 0 <= image.get_fdata().min() and image.get_fdata().max() <= original.get_fdata().max()
    assert abs(image.get_fdata().mean() - original.get_fdata().mean()) < 0.01 * original.get_fdata().mean()


def test_simulate_command(tmp_path, mri_data, capsys):
    out = tmp_path / "sim"
    args = ["mri", "simulate", "--out", str(out), "--shared", str(mri_data), "--slab", "84:86", "--contrasts", "T1w,T2w", "--noise", "0.01"]
    assert main(args) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["T1w_000.nii.gz", "T2w_000.nii.gz"]
    image = nib.load(str(out / "T2w_000.nii.gz"))
    assert image.shape == (197, 233, 2) and int(image.header["sform_code"]) == 4
    np.testing.assert_allclose(image.affine[:3, 3], [-98, -134, -72 + 84])
    assert main(["mri", "simulate", "--out", str(out), "--shared", str(tmp_path), "--slab", "1:2"]) == 2
    assert main(["mri", "simulate", "--out", str(out), "--shared", str(mri_data), "--contrasts", "FLAIR"]) == 2
    capsys.readouterr()
