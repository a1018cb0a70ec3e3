"""The simulator follows its physics: tilt variance, strength ordering, frozen flow, determinism."""
from __future__ import annotations

import numpy as np
import torch

from restore_turbulence.simulator import G_TILT_VARIANCE, TurbulenceParams, phase_screen, simulate, tilt_maps
from turbulence_support import clean_tensor


def test_tilt_variance_follows_kolmogorov_theory() -> None:
    params = TurbulenceParams(d_r0=4.0, outer_scale=1e4, pupil_samples=16)
    values = []
    for seed in range(40):
        ty, tx = tilt_maps(phase_screen(params, 128, seed), params)
        values += [tx[64, 64], ty[40, 90]]
    measured = float(np.sqrt(np.mean(np.square(values))))
    theory = float(np.sqrt(G_TILT_VARIANCE * 4.0 ** (5 / 3))) * params.pixels_per_diffraction
    assert 0.75 * theory < measured < 1.2 * theory


def _high_frequency(x: torch.Tensor) -> float:
    return float((x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., 1:] - x[..., :-1]).abs().mean())


def test_stronger_turbulence_blurs_and_displaces_more() -> None:
    image = clean_tensor(64)
    weak = simulate(image, TurbulenceParams(d_r0=1.0, noise=0.0), seed=1)[0]
    strong = simulate(image, TurbulenceParams(d_r0=6.0, noise=0.0), seed=1)[0]
    assert _high_frequency(strong) < _high_frequency(weak) < _high_frequency(image)
    assert float((strong - image).abs().mean()) > float((weak - image).abs().mean())


def test_frames_differ_by_frozen_flow_and_the_seed_reproduces() -> None:
    image = clean_tensor(48)
    params = TurbulenceParams(d_r0=3.0, noise=0.0)
    a = simulate(image, params, frames=3, seed=5)
    b = simulate(image, params, frames=3, seed=5)
    assert torch.equal(a, b)
    assert float((a[0] - a[2]).abs().mean()) > 1e-3
    still = simulate(image, TurbulenceParams(d_r0=3.0, noise=0.0, wind=0.0), frames=2, seed=5)
    assert torch.allclose(still[0], still[1])
