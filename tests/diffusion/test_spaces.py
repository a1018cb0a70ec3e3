import pytest
import torch

from restore_core.diffusion.spaces import CorruptionSpace, PixelSpace, ResidualSpace, WaveletSpace


@pytest.mark.parametrize("space", [PixelSpace(), ResidualSpace(), WaveletSpace(ResidualSpace(), 2), WaveletSpace(PixelSpace(), 2)])
def test_spaces_round_trip(space):
    hr, up = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    assert isinstance(space, CorruptionSpace)
    assert torch.allclose(space.from_target(space.to_target(hr, up), up), hr, atol=1e-6)


def test_targets_are_what_the_papers_say():
    hr, up = torch.randn(1, 1, 4, 4), torch.randn(1, 1, 4, 4)
    assert torch.equal(PixelSpace().to_target(hr, up), hr)
    assert torch.allclose(ResidualSpace().to_target(hr, up), hr - up)
    target = WaveletSpace(ResidualSpace(), 2).to_target(hr, up)
    assert target.shape == (1, 4, 2, 2)
    # LL band of the residual = 2 x the 2x2 block mean of HR - up(LR)
    block_mean = torch.nn.functional.avg_pool2d(hr - up, 2)
    assert torch.allclose(target[:, :1], 2 * block_mean, atol=1e-6)


def test_wavelet_space_3d():
    hr, up = torch.randn(1, 1, 4, 4, 4), torch.zeros(1, 1, 4, 4, 4)
    space = WaveletSpace(PixelSpace(), 3)
    assert space.to_target(hr, up).shape == (1, 8, 2, 2, 2)
    assert torch.allclose(space.from_target(space.to_target(hr, up), up), hr, atol=1e-6)
