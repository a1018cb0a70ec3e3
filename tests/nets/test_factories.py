"""build_denoiser / build_encoder / count_parameters from plain config dicts."""

from __future__ import annotations

import pytest
import torch

from restore_core.nets import (
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


def test_the_core_registers_its_networks_through_the_hooks() -> None:
    """The core keeps no table of its own: its networks come from restore_core.builtin's hooks."""
    from restore_core.registry import core_registry

    registry = core_registry()
    assert registry.entries["denoisers"]["conditional_unet"].plugin == "restore_core"
    assert registry.entries["conditioning"]["rrdb"].plugin == "restore_core"
    assert isinstance(build_denoiser(_unet_cfg()), ConditionalUNet)
    assert isinstance(build_encoder({"name": "rrdb", "spatial_dims": 2, "in_channels": 1, "num_features": 8, "num_blocks": 1}), RRDBEncoder)


def test_a_plugins_registered_denoiser_is_built_by_name() -> None:
    """A network a plugin registers with register_denoisers is found by its config name."""
    from restore_core.registry import Registry, add_core_contributions

    class Toy(torch.nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.width = width

    registry = add_core_contributions(Registry())
    registry.callback("denoisers", "toy")(name="toy_net", factory=Toy)
    assert build_denoiser({"name": "toy_net", "width": 3}, registry).width == 3
    with pytest.raises(KeyError, match="toy_net"):
        build_denoiser({"name": "toy_net", "width": 3})  # not in the core's own registry


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
