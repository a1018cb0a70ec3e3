"""LPIPS (Zhang et al. 2018) through the `lpips` package with local safetensors weights.

Every test except the missing-extra one needs `lpips` + torchvision (the
``restore-diffusion[lpips]`` extra) and the weights file. Where they are absent the
tests are SKIPPED with a reason (shown by ``-ra``); set
``RESTORE_REQUIRE_LPIPS=1`` to turn those skips into failures in CI.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from restore_core.metrics import LPIPS_EXTRA_HINT, LPIPSMetric

SHARED_WEIGHTS = Path(__file__).resolve().parents[3] / "shared" / "metrics" / "lpips_alex.safetensors"
EXAMPLES = Path(__file__).parent / "data" / "lpips_examples"
REQUIRED = os.environ.get("RESTORE_REQUIRE_LPIPS", "").lower() in ("1", "true", "yes")


def _weights_path() -> Path:
    return Path(os.environ.get("RESTORE_LPIPS_WEIGHTS", SHARED_WEIGHTS))


def _lpips_importable() -> bool:
    try:
        return (
            importlib.util.find_spec("lpips") is not None
            and importlib.util.find_spec("torchvision") is not None
        )
    except (ImportError, ValueError):
        return False


needs_lpips = pytest.mark.skipif(
    not REQUIRED and not (_lpips_importable() and _weights_path().is_file()),
    reason="needs lpips + torchvision (pip install 'restore-diffusion[lpips]') and the LPIPS weights "
    "($RESTORE_LPIPS_WEIGHTS or ../shared/metrics/lpips_alex.safetensors); "
    "RESTORE_REQUIRE_LPIPS=1 makes this a failure",
)


@pytest.fixture(scope="module")
def metric() -> LPIPSMetric:
    return LPIPSMetric(_weights_path())


def _smooth_rgb_image(size: int = 64, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, size // 8, size // 8, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)[0]


def _load_png(path: Path) -> torch.Tensor:
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(pixels).permute(2, 0, 1)


def test_missing_extra_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs everywhere: without lpips the error names the extra to install."""
    monkeypatch.setitem(sys.modules, "lpips", None)  # makes `import lpips` raise ImportError
    with pytest.raises(ImportError, match=r"pip install 'restore-diffusion\[lpips\]'"):
        LPIPSMetric(_weights_path())
    assert "restore-diffusion[lpips]" in LPIPS_EXTRA_HINT


@needs_lpips
def test_identical_images_have_zero_distance(metric: LPIPSMetric) -> None:
    image = _smooth_rgb_image()
    assert metric(image, image) == pytest.approx(0.0, abs=1e-7)


@needs_lpips
def test_distance_grows_with_noise(metric: LPIPSMetric) -> None:
    image = _smooth_rgb_image()
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(1))
    distances = [metric((image + sigma * noise).clamp(0, 1), image) for sigma in (0.02, 0.05, 0.1, 0.2)]
    assert all(a < b for a, b in itertools.pairwise(distances)), distances
    assert distances[0] > 0


@needs_lpips
def test_published_distances_on_the_lpips_example_images(metric: LPIPSMetric) -> None:
    assert EXAMPLES.is_dir(), f"the LPIPS example images ship in {EXAMPLES}"
    reference, p0, p1 = (_load_png(EXAMPLES / f"{name}.png") for name in ("ex_ref", "ex_p0", "ex_p1"))
    assert metric(p0, reference) == pytest.approx(0.722, abs=1e-3)
    assert metric(p1, reference) == pytest.approx(0.138, abs=1e-3)


@needs_lpips
def test_grey_images_are_replicated_to_three_channels(metric: LPIPSMetric) -> None:
    grey, other = _smooth_rgb_image(seed=2)[0], _smooth_rgb_image(seed=3)[0]
    as_rgb = metric(grey.expand(3, -1, -1), other.expand(3, -1, -1))
    assert metric(grey, other) == pytest.approx(as_rgb, abs=1e-7)
    assert metric(grey.numpy(), other.numpy()) == pytest.approx(as_rgb, abs=1e-7)


@needs_lpips
def test_volume_score_is_the_mean_over_slices(metric: LPIPSMetric) -> None:
    generator = torch.Generator().manual_seed(4)
    target = torch.rand(3, 32, 34, generator=generator)
    pred = (target + 0.1 * torch.randn(target.shape, generator=generator)).clamp(0, 1)
    along_first = [metric(pred[i], target[i]) for i in range(3)]
    assert metric(pred, target, spatial_dims=3, slice_axis=0) == pytest.approx(np.mean(along_first), abs=1e-6)
    with pytest.raises(ValueError, match="at least 31x31"):
        metric(pred, target, spatial_dims=3, slice_axis=2)  # slices would be 3x32


@needs_lpips
def test_rejects_wrong_weights_and_bad_channels(tmp_path: Path, metric: LPIPSMetric) -> None:
    from safetensors.torch import save_file

    wrong = tmp_path / "wrong.safetensors"
    save_file({"not_lpips.weight": torch.zeros(1)}, str(wrong))
    with pytest.raises(ValueError, match="not an LPIPS AlexNet state dict"):
        LPIPSMetric(wrong)
    with pytest.raises(FileNotFoundError, match="LPIPS weights not found"):
        LPIPSMetric(tmp_path / "absent.safetensors")
    with pytest.raises(ValueError, match="1 \\(grey\\) or 3"):
        metric(torch.rand(2, 32, 32), torch.rand(2, 32, 32))
