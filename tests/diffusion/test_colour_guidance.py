import pytest
import torch

from restore_core.diffusion.colour import match_mean_std
from restore_core.diffusion.guidance import classifier_free_guidance, drop_condition


@pytest.mark.parametrize("shape,ref_shape", [((2, 3, 16, 16), (2, 3, 4, 4)), ((1, 2, 4, 6, 8), (1, 2, 4, 6, 8))])
def test_match_mean_std_per_channel(shape, ref_shape):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * 3 + 1
    ref = torch.randn(ref_shape, generator=gen, dtype=torch.float64) * torch.arange(1, shape[1] + 1).reshape(1, -1, *([1] * (len(shape) - 2))) - 2
    out = match_mean_std(x, ref)
    dims, rdims = tuple(range(2, len(shape))), tuple(range(2, len(ref_shape)))
    assert torch.allclose(out.mean(dims), ref.mean(rdims), atol=1e-8)
    assert torch.allclose(out.std(dims, unbiased=False), ref.std(rdims, unbiased=False), atol=1e-5)
    # an affine map per channel: correlation with the input is preserved
    assert torch.allclose((out - out.mean(dims, keepdim=True)) / out.std(dims, keepdim=True),
                          (x - x.mean(dims, keepdim=True)) / x.std(dims, keepdim=True), atol=1e-5)


def test_cfg_scale_one_and_zero_and_extrapolation():
    cond, uncond = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    assert torch.equal(classifier_free_guidance(cond, uncond, 1.0), cond)
    assert torch.equal(classifier_free_guidance(cond, uncond, 0.0), uncond)
    assert torch.allclose(classifier_free_guidance(cond, uncond, 3.0), 3 * cond - 2 * uncond, atol=1e-5)


def test_drop_condition_rate_and_zeros():
    cond = torch.ones(4000, 2, 3, 3)
    dropped, keep = drop_condition(cond, 0.2, torch.Generator().manual_seed(0))
    assert keep.dtype == torch.bool and keep.shape == (4000,)
    assert abs((~keep).float().mean().item() - 0.2) < 5 * (0.2 * 0.8 / 4000) ** 0.5
    assert torch.all(dropped[~keep] == 0) and torch.all(dropped[keep] == 1)
    assert drop_condition(cond, 0.0)[1].all() and not drop_condition(cond, 1.0)[1].any()
