"""k-space resampling, the degradation models and the sinc baseline."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch
from omegaconf import OmegaConf

from restore_core.context import RunContext
from restore_core.sample import Sample
from restore_mri.degradations import (
    kspace_rician,
    kspace_truncation,
    rician_noise,
    slice_profile_matrix,
    slice_thickening,
)
from restore_mri.kspace import fourier_resize, kspace_truncate, zero_fill
from restore_mri.sinc import SincInterpolation


@pytest.mark.parametrize("n, size", [(8, 16), (7, 14), (8, 12), (9, 20), (10, 5), (16, 4), (9, 4)])
def test_fourier_resize_matches_scipy_resample(n, size):
    x = np.random.default_rng(n).standard_normal((3, n))
    np.testing.assert_allclose(fourier_resize(torch.from_numpy(x), size, 1).numpy(), scipy.signal.resample(x, size, axis=1), atol=1e-12)


@pytest.mark.parametrize("shape", [(16, 12, 5), (15, 9, 4)])
@pytest.mark.parametrize("factors", [(2, 2, 1), (4, 4, 1), (1, 1, 3), (2, 1.5, 2)])
def test_truncation_inverts_zero_filling(shape, factors):
    """A(A^+ y) = y: truncating a zero-filled volume gives it back (float64 and float32)."""
    x = torch.from_numpy(np.random.default_rng(0).random(shape))
    dims = (0, 1, 2)
    torch.testing.assert_close(kspace_truncate(zero_fill(x, factors, dims), factors, dims), x, rtol=0, atol=1e-12)
    x32 = x.float()
    torch.testing.assert_close(kspace_truncate(zero_fill(x32, factors, dims), factors, dims), x32, rtol=0, atol=2e-6)


def test_truncation_halves_in_plane_and_keeps_the_mean():
    hr = torch.rand(2, 1, 32, 24, 6, dtype=torch.float64) * 1000
    for scale, shape in ((2, (16, 12, 6)), (4, (8, 6, 6))):
        lr = kspace_truncation(scale)(hr, None)
        assert tuple(lr.shape[2:]) == shape
        torch.testing.assert_close(lr.mean(dim=(2, 3, 4)), hr.mean(dim=(2, 3, 4)))


def test_truncation_of_2d_slices_and_other_slice_axes():
    assert kspace_truncation(2)(torch.rand(3, 1, 16, 12), None).shape == (3, 1, 8, 6)
    assert kspace_truncation(2, slice_axis=0)(torch.rand(1, 1, 5, 16, 12), None).shape == (1, 1, 5, 8, 6)
    assert kspace_truncation("2,2,2")(torch.rand(1, 1, 8, 8, 8), None).shape == (1, 1, 4, 4, 4)


def test_truncation_keeps_a_band_limited_image():
    """Content below the new Nyquist frequency survives truncation unchanged (it is sampling, not blur)."""
    n = np.arange(32)
    row = 5 + np.cos(2 * np.pi * 3 * n / 32)
    lr = kspace_truncation(2)(torch.from_numpy(np.outer(row, row))[None, None], None)[0, 0].numpy()
    m = np.arange(16)
    low = 5 + np.cos(2 * np.pi * 3 * m / 16)
    np.testing.assert_allclose(lr, np.outer(low, low), atol=1e-12)


def test_box_thickening_averages_adjacent_slices():
    hr = torch.rand(1, 1, 4, 5, 12, dtype=torch.float64)
    lr = slice_thickening(3)(hr, None)
    assert lr.shape == (1, 1, 4, 5, 4)
    torch.testing.assert_close(lr[..., 1], hr[..., 3:6].mean(dim=-1))
    on_axis_0 = slice_thickening(2, slice_axis=0)(hr, None)
    torch.testing.assert_close(on_axis_0[:, :, 1], hr[:, :, 2:4].mean(dim=2))


def test_gaussian_slice_profile():
    W = slice_profile_matrix(24, 4, "gaussian")
    torch.testing.assert_close(W.sum(dim=1), torch.ones(6, dtype=torch.float64))
    centre = W[2]  # thick slice centred at HR position 9.5
    assert torch.argmax(centre).item() in (9, 10) and centre[9] == pytest.approx(centre[10].item())
    # FWHM = 4 slices: at +-2 slices from the centre the profile is half its peak value
    sigma = 4 / (2 * math.sqrt(2 * math.log(2)))
    assert math.exp(-0.5 * (2 / sigma) ** 2) == pytest.approx(0.5)
    assert centre[9 - 1].item() / centre[9].item() == pytest.approx(math.exp(-0.5 * ((1.5 / sigma) ** 2 - (0.5 / sigma) ** 2)))
    lr = slice_thickening(4, profile="gaussian")(torch.full((1, 1, 2, 2, 24), 7.0, dtype=torch.float64), None)
    torch.testing.assert_close(lr, torch.full((1, 1, 2, 2, 6), 7.0, dtype=torch.float64))  # constant stays constant


def test_rician_noise_is_biased_at_zero_signal():
    gen = torch.Generator().manual_seed(0)
    zero = torch.zeros(1, 1, 64, 64, 16)
    noisy = rician_noise(sigma=2.0, relative=False)(zero, gen)
    assert (noisy >= 0).all()
    assert noisy.mean().item() == pytest.approx(2.0 * math.sqrt(math.pi / 2), rel=0.02)  # Rayleigh mean
    bright = rician_noise(sigma=2.0, relative=False)(torch.full((1, 1, 64, 64, 16), 100.0), gen)
    assert bright.mean().item() == pytest.approx(100.0 + 2.0**2 / 200, abs=0.05) and bright.std().item() == pytest.approx(2.0, rel=0.03)


def test_relative_rician_noise_scales_with_the_peak():
    gen = torch.Generator().manual_seed(1)
    images = torch.stack([torch.zeros(1, 32, 32), torch.zeros(1, 32, 32)])
    images[0, 0, 0, 0], images[1, 0, 0, 0] = 10.0, 1000.0
    noisy = rician_noise(sigma=0.05, relative=True)(images, gen)
    ratio = noisy[1].mean() / noisy[0].mean()
    assert ratio.item() == pytest.approx(100, rel=0.1)


def test_kspace_rician_is_reproducible_and_lr_sized():
    hr = torch.rand(1, 1, 16, 16, 3)
    a = kspace_rician(2)(hr, torch.Generator().manual_seed(3))
    b = kspace_rician(2)(hr, torch.Generator().manual_seed(3))
    assert a.shape == (1, 1, 8, 8, 3) and torch.equal(a, b)


def sample_of(data: np.ndarray) -> Sample:
    return Sample(data=data.astype(np.float32), spatial_dims=3, source_dtype=np.dtype(np.float32))


@pytest.mark.parametrize("scale, shape", [(2, (24, 20, 4)), ("2,2,1", (24, 20, 4)), ("1,1,3", (12, 10, 12)), (4, (48, 40, 4))])
def test_sinc_method_upsamples_and_is_consistent(smooth_volume, scale, shape):
    volume = smooth_volume((12, 10, 4))
    cfg = OmegaConf.create({"scale": scale, "slice_axis": 2, "sinc": {"clip": False}})
    out = SincInterpolation().restore(sample_of(volume[None]), cfg, RunContext(quiet=True))
    assert out.data.shape == (1, *shape) and out.data.dtype == np.float32
    factors = np.divide(shape, volume.shape)
    back = kspace_truncate(torch.from_numpy(out.data[0].astype(np.float64)), factors, (0, 1, 2)).numpy()
    np.testing.assert_allclose(back, volume, atol=1e-3)  # float32 output of values ~100
    np.testing.assert_allclose(out.data[0][:: int(factors[0]), :: int(factors[1]), :: int(factors[2])], volume, atol=1e-3)


def test_sinc_clip_keeps_the_input_range():
    step = np.zeros((1, 16, 16, 2), np.float32)
    step[:, 8:] = 100.0  # a sharp edge rings (Gibbs)
    cfg = OmegaConf.create({"scale": 2, "slice_axis": 2, "sinc": {"clip": True}})
    out = SincInterpolation().restore(sample_of(step), cfg, RunContext(quiet=True))
    assert out.data.min() >= 0.0 and out.data.max() <= 100.0
    cfg = OmegaConf.create({"scale": 2, "slice_axis": 2, "sinc": {"clip": False}})
    assert SincInterpolation().restore(sample_of(step), cfg, RunContext(quiet=True)).data.min() < 0
