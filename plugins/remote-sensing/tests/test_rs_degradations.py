"""Degradation models: ×s area pooling and DDSR's random anisotropic Gaussian blur."""
from __future__ import annotations

import math

import pytest
import torch

from restore_core.plugins import require_plugin
from restore_remote_sensing.degradations import AnisotropicGaussian, anisotropic_gaussian_kernel


def test_both_degradations_are_registered_and_build_from_scale():
    registry = require_plugin("remote-sensing").registry
    assert {"area", "anisotropic_gaussian"} <= set(registry.names("degradations"))
    hr = torch.rand(2, 4, 32, 32)
    area = registry.get("degradations", "area").factory(scale=4)
    torch.testing.assert_close(area(hr, None), hr.reshape(2, 4, 8, 4, 8, 4).mean(dim=(3, 5)))
    blur = registry.get("degradations", "anisotropic_gaussian").factory(scale=4)
    assert blur(hr, torch.Generator().manual_seed(0)).shape == (2, 4, 8, 8)


def test_kernel_is_normalised_and_oriented():
    kernel = anisotropic_gaussian_kernel(4.0, 1.0, 0.0, size=21)
    assert math.isclose(float(kernel.sum()), 1.0, rel_tol=1e-5)
    assert kernel[10, 15] > kernel[15, 10]  # theta=0: wide along x (columns)
    turned = anisotropic_gaussian_kernel(4.0, 1.0, math.pi / 2, size=21)
    torch.testing.assert_close(turned, kernel.T, atol=1e-6, rtol=1e-4)


def test_sample_returns_the_kernels_and_is_reproducible():
    degrade = AnisotropicGaussian(scale=2, kernel_size=11, noise_max=0.05)
    hr = torch.rand(3, 1, 16, 16)
    first = degrade.sample(hr, torch.Generator().manual_seed(1))
    again = degrade.sample(hr, torch.Generator().manual_seed(1))
    assert first.lr.shape == (3, 1, 8, 8) and first.kernels.shape == (3, 11, 11)
    torch.testing.assert_close(first.lr, again.lr)
    sigmas = first.params[:, :2]
    assert bool(((sigmas >= 0.2) & (sigmas <= 2.0)).all())  # IKC range at x2
    assert not torch.allclose(first.kernels[0], first.kernels[1])  # one kernel per image
    # A constant image stays constant under any normalised blur (up to noise).
    flat = AnisotropicGaussian(scale=2, kernel_size=11, downsample="stride").sample(torch.full((1, 2, 16, 16), 0.5))
    torch.testing.assert_close(flat.lr, torch.full((1, 2, 8, 8), 0.5), atol=1e-5, rtol=0)


def test_area_downsampling_after_a_narrow_kernel_is_the_area_degradation():
    hr = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    narrow = AnisotropicGaussian(scale=4, kernel_size=21, sigma_min=0.2, sigma_max=0.2001, downsample="area")
    torch.testing.assert_close(narrow(hr), torch.nn.functional.avg_pool2d(hr, 4), atol=1e-5, rtol=0)
    bicubic = AnisotropicGaussian(scale=4, kernel_size=21, sigma_min=0.2, sigma_max=0.2001, downsample="bicubic")
    assert (bicubic(hr) - narrow(hr)).abs().max() > 1e-2  # antialiased bicubic is not a 4-px box


def test_a_list_of_downsamplers_draws_one_per_sample():
    hr = torch.rand(16, 1, 32, 32, dtype=torch.float64)
    mixed = AnisotropicGaussian(scale=4, kernel_size=21, downsample=["area", "bicubic"]).sample(hr, torch.Generator().manual_seed(3))
    # Same seed, so the same kernels: each sample must equal the area or the bicubic result.
    area = AnisotropicGaussian(scale=4, kernel_size=21, downsample="area").sample(hr, torch.Generator().manual_seed(3)).lr
    bicubic = AnisotropicGaussian(scale=4, kernel_size=21, downsample="bicubic").sample(hr, torch.Generator().manual_seed(3)).lr
    is_area = [torch.allclose(mixed.lr[i], area[i]) for i in range(16)]
    is_bicubic = [torch.allclose(mixed.lr[i], bicubic[i]) for i in range(16)]
    assert all(a != b for a, b in zip(is_area, is_bicubic))  # each sample is exactly one of the two
    assert 0 < sum(is_area) < 16


def test_an_unknown_downsampler_is_refused():
    with pytest.raises(ValueError, match="downsample"):
        AnisotropicGaussian(scale=4, downsample="nearest")


def test_log_uniform_widths_stay_in_range_and_favour_sharp_kernels():
    generator = torch.Generator().manual_seed(0)
    uniform = AnisotropicGaussian(4, sigma_min=0.2, sigma_max=4.0).random_params(4000, generator)[:, :2]
    logged = AnisotropicGaussian(4, sigma_min=0.2, sigma_max=4.0, sigma_sampling="log_uniform").random_params(4000, generator)[:, :2]
    assert float(logged.min()) >= 0.2 and float(logged.max()) <= 4.0
    sharp = [float((s < 0.9).double().mean()) for s in (uniform, logged)]
    assert sharp[0] == pytest.approx(0.7 / 3.8, abs=0.03) and sharp[1] == pytest.approx(math.log(4.5) / math.log(20), abs=0.03)
    assert float(logged.log().median()) == pytest.approx(math.log(math.sqrt(0.8)), abs=0.05)  # median of log-uniform: geometric mean
    with pytest.raises(ValueError, match="sigma_sampling"):
        AnisotropicGaussian(4, sigma_sampling="gamma")
