"""Bad MRI input: one clear line naming the file and the problem, exit 2, no output."""
from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from restore_core.cli import main


def files_below(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def expect_error(capsys, folder: Path, args: list[str], *needles: str) -> None:
    before = files_below(folder)
    assert main(["--plugin", "mri", "--method", "sinc", "--quiet", *args]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert files_below(folder) == before, "an output or temporary file was left behind"


def save(path: Path, data: np.ndarray) -> Path:
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))
    return path


@pytest.mark.parametrize("shape, needle", [((8, 8), "2D image"), ((4, 4, 4, 2, 3), "5D image")])
def test_wrong_dimensionality(capsys, tmp_path, shape, needle):
    path = save(tmp_path / "dims.nii.gz", np.ones(shape, np.float32))
    expect_error(capsys, tmp_path, [str(path)], "dims.nii.gz", needle, "3D volumes and 4D series")


def test_trailing_singleton_dimensions_are_not_5d(capsys, tmp_path):
    path = save(tmp_path / "five.nii", np.ones((4, 4, 2, 1, 1), np.float32))
    assert main(["--plugin", "mri", "--method", "sinc", "--quiet", str(path), "-o", str(tmp_path / "out.nii")]) == 0
    assert nib.load(str(tmp_path / "out.nii")).shape == (8, 8, 2, 1)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_voxels(capsys, tmp_path, bad):
    data = np.ones((6, 6, 3), np.float32)
    data[2, 3, 1] = bad
    path = save(tmp_path / "nonfinite.nii", data)
    expect_error(capsys, tmp_path, [str(path)], "nonfinite.nii", "NaN or Inf")


def test_zero_size_axis(capsys, tmp_path):
    path = save(tmp_path / "empty_axis.nii", np.zeros((4, 0, 4), np.float32))
    expect_error(capsys, tmp_path, [str(path)], "empty_axis.nii", "zero-size axis")


def test_truncated_gzip(capsys, tmp_path):
    noise = np.random.default_rng(0).integers(0, 30000, (32, 32, 8), dtype=np.int16)
    content = save(tmp_path / "whole.nii.gz", noise).read_bytes()
    (tmp_path / "whole.nii.gz").unlink()
    for name, keep in (("cut.nii.gz", len(content) // 2), ("cut_header.nii.gz", 60)):
        (tmp_path / name).write_bytes(content[:keep])
        expect_error(capsys, tmp_path, [str(tmp_path / name)], name, "truncated or corrupt")


def test_truncated_plain_nifti(capsys, tmp_path):
    content = save(tmp_path / "whole.nii", np.ones((16, 16, 8), np.float32)).read_bytes()
    (tmp_path / "whole.nii").unlink()
    (tmp_path / "cut.nii").write_bytes(content[: len(content) - 100])
    expect_error(capsys, tmp_path, [str(tmp_path / "cut.nii")], "cut.nii", "truncated or corrupt")


@pytest.mark.parametrize(
    "name, content, needle",
    [
        ("text.nii", b"this is a text file, not a volume\n" * 20, "not a NIfTI-1 or NIfTI-2 file"),
        ("short.nii", b"tiny", "not a NIfTI-1 or NIfTI-2 file"),
        ("text.nii.gz", gzip.compress(b"this is a text file\n" * 40), "gzip file without a NIfTI header"),
        ("png.nii", b"\x89PNG\r\n\x1a\n" + b"\x00" * 400, "not a NIfTI-1 or NIfTI-2 file"),
    ],
)
def test_not_nifti(capsys, tmp_path, name, content, needle):
    (tmp_path / name).write_bytes(content)
    expect_error(capsys, tmp_path, [str(tmp_path / name)], name, needle)


def test_complex_voxels(capsys, tmp_path):
    path = save(tmp_path / "complex.nii", np.ones((4, 4, 2), np.complex64))
    expect_error(capsys, tmp_path, [str(path)], "complex.nii", "real-valued")


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--scale", "2,2"], "one factor (in-plane) or three"),
        (["--scale", "0.5"], ">= 1"),
        (["--scale", "abc"], "numbers"),
        (["slice_axis=3"], "slice_axis must be"),
    ],
)
def test_bad_scale_or_slice_axis(capsys, tmp_path, args, needle):
    path = save(tmp_path / "good.nii", np.ones((4, 4, 2), np.float32))
    expect_error(capsys, tmp_path, [str(path), *args], needle)
