"""ConditionalUNet: SR3 concatenation, CFG null condition, SRDiff injection, odd sizes."""

from __future__ import annotations

import pytest
import torch

from restore_core.nets import ConditionalUNet, RRDBEncoder

TINY = {"channels": (8, 16, 16), "attention_levels": (False, False, True), "norm_num_groups": 4}
ODD_SIZES = {2: (13, 19), 3: (7, 9, 5)}


def _randomize_zero_init(model: torch.nn.Module, seed: int = 0) -> None:
    """MONAI zero-initialises its output conv (and resblock second convs), so a
    fresh UNet outputs exactly 0 whatever its inputs; give those weights values
    so that the tests can see what the inputs change."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim > 1 and not param.any():
                param.copy_(torch.randn(param.shape, generator=generator) * 0.1)


def _model(spatial_dims: int, encoder_channels: int = 0, **overrides) -> ConditionalUNet:
    torch.manual_seed(0)
    kwargs = {**TINY, **overrides}
    model = ConditionalUNet(spatial_dims, target_channels=2, cond_channels=1, encoder_channels=encoder_channels, **kwargs)
    _randomize_zero_init(model)
    return model.eval()


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_output_shape_on_odd_sizes(spatial_dims: int) -> None:
    model = _model(spatial_dims)
    x_t = torch.randn(2, 2, *ODD_SIZES[spatial_dims])
    cond = torch.randn(2, 1, *ODD_SIZES[spatial_dims])
    out = model(x_t, torch.tensor([1, 500]), cond)
    assert out.shape == x_t.shape
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("pad_mode", ["reflect", "replicate"])
def test_batch_items_stay_independent_on_padded_sizes(pad_mode: str) -> None:
    model = _model(2, pad_mode=pad_mode)
    x_t, cond = torch.randn(2, 2, 5, 6), torch.randn(2, 1, 5, 6)
    together = model(x_t, 3, cond)
    alone = model(x_t[1:], 3, cond[1:])
    assert together.shape == (2, 2, 5, 6)
    torch.testing.assert_close(together[1:], alone, atol=1e-5, rtol=1e-4)


def test_reflect_falls_back_to_replicate_on_tiny_axes() -> None:
    model = _model(2)  # multiple of 4: an axis of 1 must be padded by 3
    out = model(torch.randn(1, 2, 1, 6), 3, torch.randn(1, 1, 1, 6))
    assert out.shape == (1, 2, 1, 6)


def test_condition_is_concatenated_and_changes_the_output() -> None:
    model = _model(2)
    x_t = torch.randn(1, 2, 8, 8)
    out_a = model(x_t, 10, torch.randn(1, 1, 8, 8))
    out_b = model(x_t, 10, torch.randn(1, 1, 8, 8))
    assert model.unet.in_channels == 3
    assert not torch.allclose(out_a, out_b)


def test_missing_condition_means_zeros_for_classifier_free_guidance() -> None:
    model = _model(2)
    x_t = torch.randn(2, 2, 8, 8)
    torch.testing.assert_close(model(x_t, 10), model(x_t, 10, torch.zeros(2, 1, 8, 8)))


def test_scalar_timestep_is_broadcast() -> None:
    model = _model(2)
    x_t, cond = torch.randn(3, 2, 8, 8), torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(model(x_t, 7, cond), model(x_t, torch.full((3,), 7), cond))


def test_own_forward_matches_monai_when_nothing_is_injected() -> None:
    """Guards the re-implemented forward against drift in MONAI's."""
    model = _model(2, encoder_channels=4)
    x = torch.randn(2, 3, 8, 12)
    t = torch.tensor([5, 900])
    zero = torch.zeros(2, TINY["channels"][0], 8, 12)
    torch.testing.assert_close(model._unet_forward_with_injection(x, t, zero), model.unet(x, t))


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_encoder_features_change_the_output_and_receive_gradients(spatial_dims: int) -> None:
    model = _model(spatial_dims, encoder_channels=6)
    hr = ODD_SIZES[spatial_dims]
    lr = tuple((s + 1) // 2 for s in hr)
    x_t, cond = torch.randn(1, 2, *hr), torch.randn(1, 1, *hr)
    features_a = torch.randn(1, 6, *lr, requires_grad=True)
    features_b = torch.randn(1, 6, *lr)
    out_a = model(x_t, 20, cond, features_a)
    out_b = model(x_t, 20, cond, features_b)
    assert out_a.shape == x_t.shape
    assert not torch.allclose(out_a, out_b)
    out_a.square().sum().backward()
    assert features_a.grad is not None and features_a.grad.abs().sum() > 0


def test_encoder_features_already_on_the_hr_grid_are_used_as_is() -> None:
    model = _model(2, encoder_channels=3, encoder_upsample_mode="nearest")
    out = model(torch.randn(1, 2, 9, 10), 1, None, torch.randn(1, 3, 9, 10))
    assert out.shape == (1, 2, 9, 10)


def test_srdiff_wiring_trains_the_encoder_through_the_denoiser() -> None:
    torch.manual_seed(0)
    encoder = RRDBEncoder(2, in_channels=1, num_features=8, num_blocks=2, growth_channels=4)
    model = _model(2, encoder_channels=encoder.out_channels)
    lr = torch.randn(1, 1, 5, 7)
    out = model(torch.randn(1, 2, 20, 28), 3, torch.randn(1, 1, 20, 28), encoder(lr))
    out.sum().backward()
    assert encoder.conv_first.weight.grad is not None and encoder.conv_first.weight.grad.abs().sum() > 0


def test_default_constructor_runs() -> None:
    model = ConditionalUNet(2, target_channels=1, cond_channels=1)
    assert model(torch.randn(1, 1, 6, 10), 0, torch.randn(1, 1, 6, 10)).shape == (1, 1, 6, 10)


def test_config_lists_are_accepted() -> None:
    model = ConditionalUNet(
        3, 1, 0, channels=[8, 8], attention_levels=[False, False], norm_num_groups=4, num_res_blocks=[1, 1]
    )
    assert model(torch.randn(1, 1, 3, 4, 5), 0).shape == (1, 1, 3, 4, 5)


@pytest.mark.parametrize(
    ("kwargs", "call"),
    [
        ({}, lambda m: m(torch.randn(1, 2, 8, 8), 0, torch.randn(1, 1, 4, 4))),  # cond not on x_t's grid
        ({}, lambda m: m(torch.randn(1, 3, 8, 8), 0)),  # wrong target channels
        ({}, lambda m: m(torch.randn(1, 2, 8, 8), 0, None, torch.randn(1, 4, 4, 4))),  # no encoder configured
        ({"encoder_channels": 4}, lambda m: m(torch.randn(1, 2, 8, 8), 0, None, torch.randn(1, 5, 4, 4))),
    ],
)
def test_bad_inputs_raise(kwargs: dict, call) -> None:
    model = _model(2, **kwargs)
    with pytest.raises(ValueError):
        call(model)


def test_bad_constructor_arguments_raise() -> None:
    with pytest.raises(ValueError):
        ConditionalUNet(1, 1, 1)
    with pytest.raises(ValueError):
        ConditionalUNet(2, 1, 1, pad_mode="circular")
