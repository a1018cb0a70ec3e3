"""The photo pipeline end to end through the CLI/API: detect, align, restore, paste back, and bad input."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restore_core.api import restore
from restore_core.errors import InputError, UsageError


def read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "restore_core.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize("method", ["difface", "diffbfr"])
def test_faces_are_restored_and_pasted_into_the_bicubic_background(method, face_photo, tiny_parts, tmp_path):
    base = restore(face_photo, plugin="face", method="bicubic", scale=2, output=tmp_path / "bicubic.png")[0]
    out = restore(face_photo, plugin="face", method=method, scale=2, output=tmp_path / f"{method}.png", overrides=tiny_parts[method])[0]
    bicubic, restored = read(base).astype(float), read(out).astype(float)
    assert restored.shape == bicubic.shape == (384, 384, 3)
    changed = np.abs(restored - bicubic).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    # the astronaut's face sits near (0.44, 0.23) of the photo: only a region around it changes
    assert changed.mean() < 0.25
    assert 0.3 < xs.mean() / 384 < 0.6 and 0.1 < ys.mean() / 384 < 0.4
    # the paste-back mask eases in: the border of the changed region differs little from the background
    edge = np.abs(restored - bicubic).max(axis=2)[changed]
    assert np.quantile(edge, 0.05) < 8


def test_photo_without_a_face_is_restored_whole_with_one_warning(tiny_parts, tmp_path):
    import skimage.data

    path = tmp_path / "coffee.png"
    Image.fromarray(skimage.data.coffee()[::4, ::4]).save(path)
    result = run_cli("--plugin", "face", str(path), "-o", str(tmp_path / "out.png"), "--scale", "2", *tiny_parts["difface"], "--quiet")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "no face found" in line]
    assert len(warnings) == 1 and str(path) in warnings[0]
    bicubic = restore(path, plugin="face", method="bicubic", scale=2, output=tmp_path / "bicubic.png")[0]
    assert np.array_equal(read(tmp_path / "out.png"), read(bicubic))


def test_too_small_faces_are_named_and_left_to_the_background(face_photo, tiny_parts, tmp_path):
    result = run_cli("--plugin", "face", str(face_photo), "-o", str(tmp_path / "out.png"), *tiny_parts["difface"],
                     "face.min_size=1000", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "face 1 at (" in result.stderr and "below face.min_size 1000" in result.stderr
    bicubic = restore(face_photo, plugin="face", method="bicubic", output=tmp_path / "bicubic.png")[0]
    assert np.array_equal(read(tmp_path / "out.png"), read(bicubic))


def test_grey_photo_comes_out_grey(face_photo, tiny_parts, tmp_path):
    grey = tmp_path / "grey.png"
    Image.open(face_photo).convert("L").save(grey)
    out = restore(grey, plugin="face", method="difface", scale=2, output=tmp_path / "out.png", overrides=tiny_parts["difface"])[0]
    image = Image.open(out)
    assert image.mode == "L" and image.size == (384, 384)


def test_rgba_photo_keeps_its_alpha(face_photo, tiny_parts, tmp_path):
    rgb = read(face_photo)
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, :40] = 0
    path = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(path)
    out = read(restore(path, plugin="face", method="difface", scale=2, output=tmp_path / "out.png", overrides=tiny_parts["difface"])[0])
    assert out.shape == (384, 384, 4)
    assert out[:, :70, 3].max() == 0 and out[:, 90:, 3].min() == 255


def test_aligned_input_is_restored_as_one_face(tiny_parts, tmp_path):
    data = Path(tiny_parts["data"][0])
    out = restore(data / "face0.png", plugin="face", method="difface", scale=2, output=tmp_path / "out.png",
                  overrides=tiny_parts["difface"], extra_flags={"face.aligned": True})[0]
    assert read(out).shape == (128, 128, 3)


def test_corrupt_file_is_one_line_exit_2_and_no_output(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    result = run_cli("--plugin", "face", str(path), "-o", str(tmp_path / "out.png"), "--quiet")
    assert result.returncode == 2
    lines = [line for line in result.stderr.strip().splitlines() if line]
    assert len(lines) == 1 and str(path) in lines[0]
    assert not (tmp_path / "out.png").exists()


def test_output_beyond_the_memory_bound_is_refused_before_any_work(face_photo, tmp_path):
    with pytest.raises(InputError, match="max_output_megapixels"):
        restore(face_photo, plugin="face", method="difface", scale=4, output=tmp_path / "out.png", overrides=["face.max_output_megapixels=0.1"])
    assert not (tmp_path / "out.png").exists()


def test_scale_outside_the_range_is_a_usage_error(face_photo, tmp_path):
    with pytest.raises(UsageError, match="--scale"):
        restore(face_photo, plugin="face", method="bicubic", scale=0.5, output=tmp_path / "out.png")


def test_difface_runs_a_prior_given_by_weights(face_photo, tiny_parts, tmp_path):
    """--weights FILE (a prior in DifFace's published layout with its card) replaces the shipped prior."""
    prior = next(o.split("=", 1)[1] for o in tiny_parts["difface"] if o.startswith("prior.checkpoint="))
    overrides = [o for o in tiny_parts["difface"] if not o.startswith("prior.checkpoint=")] + ["prior.checkpoint=missing"]
    out = restore(face_photo, plugin="face", method="difface", output=tmp_path / "out.png", weights=prior, overrides=overrides)[0]
    assert read(out).shape == (384, 384, 3)


def test_auto_background_is_srdiff_where_it_restores_and_bicubic_elsewhere():
    from restore_face.io import image_registry
    from restore_face.pipeline import background_method

    registry = image_registry()
    assert [background_method("auto", s, registry) for s in (2.0, 4.0, 8.0, 3.0, 1.5)] == ["srdiff"] * 3 + ["bicubic"] * 2
    assert background_method("resshift", 3.0, registry) == "resshift"  # a named method is taken as it is


def test_large_photos_are_detected_on_a_bounded_copy(monkeypatch, tiny_parts, tmp_path):
    import restore_face.pipeline as pipeline

    seen = []
    monkeypatch.setattr(pipeline, "make_detector", lambda section, device: ("stub", lambda image: seen.append(image.shape) or []))
    path = tmp_path / "wide.png"
    Image.fromarray(np.full((300, 3000, 3), 128, np.uint8)).save(path)
    restore(path, plugin="face", method="difface", scale=1, output=tmp_path / "out.png", overrides=[*tiny_parts["difface"], "detect.max_side=1000"])
    assert seen == [(100, 1000, 3)]
