"""RRDBEncoder: ESRGAN trunk, SRDiff hidden features, BasicSR key names."""

from __future__ import annotations

import pytest
import torch

from restore_core.nets import RRDBEncoder

TINY = {"num_features": 8, "growth_channels": 4}


@pytest.mark.parametrize(("spatial_dims", "size"), [(2, (7, 11)), (3, (5, 6, 3))])
def test_features_stay_at_lr_resolution(spatial_dims: int, size: tuple[int, ...]) -> None:
    encoder = RRDBEncoder(spatial_dims, in_channels=3, num_blocks=2, **TINY)
    features = encoder(torch.randn(2, 3, *size))
    assert encoder.out_channels == 8 * 3
    assert features.shape == (2, encoder.out_channels, *size)


def test_features_are_the_block_outputs_then_the_trunk_skip() -> None:
    torch.manual_seed(0)
    encoder = RRDBEncoder(2, in_channels=1, num_blocks=2, **TINY)
    lr = torch.randn(1, 1, 6, 6)
    features = encoder(lr)
    first = encoder.conv_first(lr)
    block_1 = encoder.body[0](first)
    block_2 = encoder.body[1](block_1)
    expected = torch.cat([block_1, block_2, first + encoder.conv_body(block_2)], dim=1)
    torch.testing.assert_close(features, expected)


def test_srdiff_feature_stride_keeps_every_third_ending_with_the_last() -> None:
    torch.manual_seed(0)
    encoder = RRDBEncoder(2, in_channels=1, num_blocks=8, feature_stride=3, **TINY)
    lr = torch.randn(1, 1, 4, 4)
    hidden = encoder.hidden_states(lr)
    assert len(hidden) == 9
    assert encoder.out_channels == 8 * 3
    torch.testing.assert_close(encoder(lr), torch.cat([hidden[2], hidden[5], hidden[8]], dim=1))


def test_state_dict_uses_basicsr_rrdbnet_names() -> None:
    keys = set(RRDBEncoder(2, in_channels=3, num_blocks=2, **TINY).state_dict())
    assert {"conv_first.weight", "conv_body.bias", "body.0.rdb1.conv1.weight", "body.1.rdb3.conv5.bias"} <= keys
    assert {key.split(".")[0] for key in keys} == {"conv_first", "body", "conv_body"}
    assert len([k for k in keys if k.startswith("body.0.")]) == 3 * 5 * 2  # 3 RDBs x 5 convs x (w, b)


def test_rdb_conv_widths_match_esrgan() -> None:
    rdb = RRDBEncoder(3, in_channels=1, num_blocks=1, num_features=8, growth_channels=4).body[0].rdb1
    assert [rdb.conv1.in_channels, rdb.conv5.in_channels, rdb.conv5.out_channels] == [8, 8 + 4 * 4, 8]
    assert isinstance(rdb.conv1, torch.nn.Conv3d)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError):
        RRDBEncoder(2, 1, num_blocks=2, feature_stride=4)
    with pytest.raises(ValueError):
        RRDBEncoder(4, 1)
    with pytest.raises(ValueError):
        RRDBEncoder(2, 1)(torch.randn(1, 1, 4, 4, 4))
