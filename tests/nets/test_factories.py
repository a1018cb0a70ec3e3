"""build_denoiser / build_encoder / count_parameters from plain config dicts."""

from __future__ import annotations

import pytest
import torch

from restore_core.nets import (
    DENOISERS,
    ENCODERS,
    ConditionalUNet,
    RRDBEncoder,
    build_denoiser,
    build_encoder,
    count_parameters,
)


def _unet_cfg(**extra) -> dict:
    return {
        "name": "conditional_unet",
        "spatial_dims": 2,
        "target_channels": 1,
        "cond_channels": 1,
        "channels": [8, 8],  # YAML gives lists, not tuples
        "attention_levels": [False, False],
        "norm_num_groups": 4,
        **extra,
    }


def test_registries_name_the_classes() -> None:
    assert DENOISERS["conditional_unet"] is ConditionalUNet
    assert ENCODERS["rrdb"] is RRDBEncoder


def test_build_denoiser_and_encoder_wire_up() -> None:
    encoder = build_encoder({"name": "rrdb", "spatial_dims": 2, "in_channels": 1, "num_features": 8, "num_blocks": 1})
    assert isinstance(encoder, RRDBEncoder)
    denoiser = build_denoiser(_unet_cfg(encoder_channels=encoder.out_channels))
    assert isinstance(denoiser, ConditionalUNet)
    lr = torch.randn(1, 1, 4, 5)
    out = denoiser(torch.randn(1, 1, 8, 10), 1, torch.randn(1, 1, 8, 10), encoder(lr))
    assert out.shape == (1, 1, 8, 10)


def test_build_does_not_mutate_the_config() -> None:
    cfg = _unet_cfg()
    build_denoiser(cfg)
    assert cfg["name"] == "conditional_unet"


@pytest.mark.parametrize("cfg", [None, {}, {"name": None}, {"name": "none"}])
def test_no_encoder(cfg) -> None:
    assert build_encoder(cfg) is None


def test_errors_name_the_problem() -> None:
    with pytest.raises(KeyError, match="known"):
        build_denoiser({**_unet_cfg(), "name": "nope"})
    with pytest.raises(KeyError, match="name"):
        build_denoiser({"spatial_dims": 2})
    with pytest.raises(TypeError, match="conditional_unet"):
        build_denoiser(_unet_cfg(wrong_argument=1))


def test_count_parameters() -> None:
    layer = torch.nn.Conv2d(2, 3, 3)  # 3*2*3*3 weights + 3 biases
    assert count_parameters(layer) == 57
    layer.bias.requires_grad_(False)
    assert count_parameters(layer, trainable_only=True) == 54
    assert count_parameters(layer) == 57
