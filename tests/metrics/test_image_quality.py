"""PSNR / SSIM / consistency against independent references (scikit-image)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from restore_core.metrics import consistency_mse, psnr, ssim


def _noisy_pair(shape: tuple[int, ...], noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.random(shape)
    pred = np.clip(target + noise * rng.standard_normal(shape), 0.0, 1.0)
    return pred, target


def _skimage_ssim(pred: np.ndarray, target: np.ndarray, data_range: float) -> float:
    # Wang et al. 2004 settings: Gaussian window sigma 1.5, population covariance.
    return float(
        structural_similarity(
            pred, target, data_range=data_range, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
    )


def test_psnr_matches_skimage_and_accepts_numpy_and_torch() -> None:
    pred, target = _noisy_pair((24, 20))
    expected = peak_signal_noise_ratio(target, pred, data_range=1.0)
    assert psnr(pred, target, 1.0) == pytest.approx(expected, abs=1e-9)
    assert psnr(torch.from_numpy(pred), torch.from_numpy(target), 1.0) == pytest.approx(expected, abs=1e-9)


def test_psnr_uses_data_range_and_is_infinite_for_identical_inputs() -> None:
    pred, target = _noisy_pair((8, 8, 8))
    assert psnr(pred * 4095, target * 4095, 4095.0) == pytest.approx(psnr(pred, target, 1.0), abs=1e-9)
    assert math.isinf(psnr(target, target, 1.0))


@pytest.mark.parametrize(("shape", "spatial_dims"), [((32, 28), 2), ((16, 14, 15), 3)])
def test_ssim_matches_skimage_in_2d_and_3d(shape: tuple[int, ...], spatial_dims: int) -> None:
    pred, target = _noisy_pair(shape)
    expected = _skimage_ssim(pred, target, 1.0)
    assert ssim(pred, target, 1.0, spatial_dims) == pytest.approx(expected, abs=1e-5)


def test_ssim_is_one_for_identical_and_scales_with_data_range() -> None:
    pred, target = _noisy_pair((20, 20))
    assert ssim(target, target, 1.0, 2) == pytest.approx(1.0, abs=1e-6)
    assert ssim(pred * 1000, target * 1000, 1000.0, 2) == pytest.approx(ssim(pred, target, 1.0, 2), abs=1e-5)


def test_ssim_accepts_channel_and_batch_axes() -> None:
    pred, target = _noisy_pair((16, 16, 16))
    plain = ssim(pred, target, 1.0, 3)
    assert ssim(pred[None], target[None], 1.0, 3) == pytest.approx(plain, abs=1e-7)
    assert ssim(pred[None, None], target[None, None], 1.0, 3) == pytest.approx(plain, abs=1e-7)
    # Channels are averaged: per-channel SSIMs of an RGB image.
    rgb_pred, rgb_target = _noisy_pair((3, 16, 16))
    per_channel = [_skimage_ssim(rgb_pred[c], rgb_target[c], 1.0) for c in range(3)]
    assert ssim(rgb_pred, rgb_target, 1.0, 2) == pytest.approx(np.mean(per_channel), abs=1e-5)


def test_ssim_rejects_bad_inputs_with_clear_messages() -> None:
    pred, target = _noisy_pair((8, 8))
    with pytest.raises(ValueError, match="window_size"):
        ssim(pred, target, 1.0, 2)
    with pytest.raises(ValueError, match="shapes differ"):
        ssim(pred, target[:7], 1.0, 2)
    with pytest.raises(ValueError, match="spatial_dims"):
        ssim(pred, target, 1.0, 4)
    with pytest.raises(ValueError, match="data_range"):
        psnr(pred, target, 0.0)


def _average_pool_by_two(image: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.avg_pool2d(image[None, None], 2)[0, 0]


def test_consistency_mse_is_zero_for_a_consistent_restoration() -> None:
    low_res = torch.rand(8, 8, dtype=torch.float64)
    # Nearest upsampling re-degrades exactly to the input under 2x2 average pooling.
    restored = low_res.repeat_interleave(2, 0).repeat_interleave(2, 1)
    assert consistency_mse(low_res, restored, _average_pool_by_two) == pytest.approx(0.0, abs=1e-15)


def test_consistency_mse_measures_the_redegraded_error() -> None:
    low_res = torch.zeros(4, 4)
    restored = torch.full((8, 8), 0.5)
    assert consistency_mse(low_res, restored, _average_pool_by_two) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="input grid"):
        consistency_mse(low_res, restored, lambda image: image)


def test_ssim_of_a_thin_slab_is_the_mean_of_its_slices():
    import torch

    from restore_core.metrics import ssim

    g = torch.Generator().manual_seed(0)
    target = torch.rand(1, 1, 24, 20, 5, generator=g)
    pred = (target + 0.1 * torch.randn(target.shape, generator=g)).clamp(0, 1)
    slab = ssim(pred, target, 1.0, 3)
    per_slice = [ssim(pred[..., k], target[..., k], 1.0, 2) for k in range(5)]
    assert abs(slab - sum(per_slice) / 5) < 1e-6
    assert 0 < slab < 1
