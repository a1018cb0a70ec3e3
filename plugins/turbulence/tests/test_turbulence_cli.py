"""The command line on frames, bursts (multi-page TIFF, --burst DIR) and videos, and bad input."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from turbulence_support import clean_image

from conftest import TINY


def _restore(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "restore_core.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("turbulence-inputs")
    Image.fromarray(clean_image(40)).save(folder / "clean.png")
    made = {"clean": folder / "clean.png"}
    for name, extra in (("frame.png", []), ("burst.tif", ["--frames", "4"]), ("clip.mp4", ["--frames", "5"])):
        result = _restore("turbulence", "simulate", str(folder / "clean.png"), "-o", str(folder / name), "--d-r0", "2", *extra)
        assert result.returncode == 0, result.stderr
        made[name] = folder / name
    return made


def _weights(tiny_models: dict[str, Path], method: str) -> list[str]:
    return ["--method", method, "--weights", str(tiny_models[method]), "--quiet", *TINY]


def test_frame_burst_and_video_restore(inputs: dict[str, Path], tiny_models: dict[str, Path], tmp_path: Path) -> None:
    import av

    method = "at-ddpm"

    for name, out_name in (("frame.png", "frame.png"), ("burst.tif", "burst.png"), ("clip.mp4", "clip.mp4")):
        out = tmp_path / out_name
        result = _restore("--plugin", "turbulence", str(inputs[name]), "-o", str(out), *_weights(tiny_models, method))
        assert result.returncode == 0, result.stderr
        assert out.is_file()
    assert np.asarray(Image.open(tmp_path / "burst.png")).shape == (40, 40, 3)  # the burst became one image
    with av.open(str(tmp_path / "clip.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 5  # same frame count


def test_at_vardiff_restores_a_burst(inputs: dict[str, Path], tiny_models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "burst.png"
    result = _restore("--plugin", "turbulence", str(inputs["burst.tif"]), "-o", str(out), *_weights(tiny_models, "at-vardiff"))
    assert result.returncode == 0, result.stderr
    assert np.asarray(Image.open(out)).shape == (40, 40, 3)


def test_burst_folder_and_the_baseline(inputs: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for seed in range(3):
        result = _restore("turbulence", "simulate", str(inputs["clean"]), "-o", str(folder / f"f{seed}.png"), "--seed", str(seed))
        assert result.returncode == 0, result.stderr
    out = tmp_path / "fused.png"
    result = _restore("--plugin", "turbulence", "--burst", str(folder), "--method", "average-unsharp", "-o", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    assert np.asarray(Image.open(out)).shape == (40, 40, 3)


def _bad(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    out = tmp_path / "out.png"
    result = _restore("--plugin", "turbulence", *args, "-o", str(out), "--method", "average-unsharp", "--quiet")
    assert result.returncode == 2, result.stderr
    assert not out.exists() and not list(tmp_path.glob("*.tmp*"))
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result


def test_bad_bursts_and_videos(inputs: dict[str, Path], tmp_path: Path) -> None:
    sizes = tmp_path / "sizes"
    sizes.mkdir()
    Image.fromarray(clean_image(40)).save(sizes / "a.png")
    Image.fromarray(clean_image(32)).save(sizes / "b.png")
    assert "a.png" in _bad(tmp_path, "--burst", str(sizes)).stderr
    one = tmp_path / "one"
    one.mkdir()
    Image.fromarray(clean_image(40)).save(one / "a.png")
    assert "at least 2 frames" in _bad(tmp_path, "--burst", str(one)).stderr
    truncated = tmp_path / "cut.mp4"
    data = inputs["clip.mp4"].read_bytes()
    truncated.write_bytes(data[: len(data) * 2 // 5])
    assert "cut.mp4" in _restore("--plugin", "turbulence", str(truncated), "-o", str(tmp_path / "o.mp4"), "--quiet").stderr
    garbage = tmp_path / "noise.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    result = _restore("--plugin", "turbulence", str(garbage), "-o", str(tmp_path / "o.mp4"), "--quiet")
    assert result.returncode == 2 and "noise.mp4" in result.stderr and not (tmp_path / "o.mp4").exists()


def test_simulate_refuses_many_frames_into_one_png(inputs: dict[str, Path], tmp_path: Path) -> None:
    result = _restore("turbulence", "simulate", str(inputs["clean"]), "-o", str(tmp_path / "x.png"), "--frames", "3")
    assert result.returncode == 2 and "multi-page" in result.stderr
