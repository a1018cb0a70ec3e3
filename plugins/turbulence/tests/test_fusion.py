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
    inner = (slice(None), slice(8, -8), slice(8, -8))
    assert float((fused - image)[inner].abs().mean()) < 0.02
    assert float((frames.mean(0) - image)[inner].abs().mean()) > 2 * float((fused - image)[inner].abs().mean())


def test_temporal_neighbours_stay_inside_the_clip() -> None:
    assert temporal_neighbours(10, 0, 2) == [0, 1, 2, 3, 4]
    assert temporal_neighbours(10, 9, 2) == [5, 6, 7, 8, 9]
    assert temporal_neighbours(3, 1, 2) == [0, 1, 2]
