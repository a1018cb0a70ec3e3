"""Registration recovers known shifts; the fused average of a shifted burst is the unshifted image."""
from __future__ import annotations

import torch

from restore_turbulence.fusion import estimate_shifts, fourier_shift, fuse, temporal_neighbours
from turbulence_support import clean_tensor


def test_known_shifts_are_recovered_and_undone() -> None:
    image = clean_tensor(64)
    shifts = torch.tensor([[0.0, 0.0], [2.0, -3.0], [-1.5, 0.5]], dtype=torch.float64)
    frames = fourier_shift(image.expand(3, -1, -1, -1), -shifts)
    found = estimate_shifts(frames, frames[0])
    assert torch.allclose(found, shifts, atol=0.3)
    reference, fused = fuse(frames, 0)
    assert torch.equal(reference, frames[0])
    # the average is registered (sharp): one global shift away from the image
    offset = estimate_shifts(fused[None], image)
    aligned = fourier_shift(fused[None], offset)[0]
    inner = (slice(None), slice(8, -8), slice(8, -8))
    assert float((aligned - image)[inner].abs().mean()) < 0.03
    assert float((frames.mean(0) - image)[inner].abs().mean()) > 1.5 * float((aligned - image)[inner].abs().mean())


def test_a_jittered_burst_is_fused_in_its_mean_geometry_not_the_reference_frames() -> None:
    """Zero-mean tilts (turbulence): registering to the mean beats registering to one noisy, tilted frame."""
    image = clean_tensor(64)
    g = torch.Generator().manual_seed(3)
    shifts = torch.randn(16, 2, generator=g, dtype=torch.float64)
    shifts -= shifts.mean(dim=0)  # the scene's position is the frames' mean
    frames = fourier_shift(image.expand(16, -1, -1, -1), -shifts) + 0.05 * torch.randn(16, *image.shape, generator=g)
    _, fused = fuse(frames, 8)
    to_reference = fourier_shift(frames, estimate_shifts(frames, frames[8])).mean(dim=0)
    inner = (slice(None), slice(8, -8), slice(8, -8))
    error = float((fused - image)[inner].abs().mean())
    assert error < 0.75 * float((to_reference - image)[inner].abs().mean())


def test_temporal_neighbours_stay_inside_the_clip() -> None:
    assert temporal_neighbours(10, 0, 2) == [0, 1, 2, 3, 4]
    assert temporal_neighbours(10, 9, 2) == [5, 6, 7, 8, 9]
    assert temporal_neighbours(3, 1, 2) == [0, 1, 2]
