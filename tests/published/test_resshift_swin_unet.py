"""ResShift's Swin U-Net denoiser (zsyOAOA/ResShift ``UNetModelSwin``) rebuilt by restore_core.published.

The manifests and fixtures were made by the reference code
(scripts/make_published_fixtures.py --reference-dir resshift-swin-unet=<checkout>);
see docs/published.md.  These tests pin the state-dict layout (parameters and
the persistent Swin buffers) of the published configurations and the forward
against the reference, at the construction size and at another size.
"""
from __future__ import annotations

import inspect
import json
from functools import partial
from pathlib import Path

import pytest
import torch

from restore_core.published import build
from tests.published.facts import fixture, manifest, section

HERE = Path(__file__).resolve().parent
ARCH = "resshift-swin-unet"
PUBLISHED = ("realsr-x4", "realsr-x2", "faceir", "inpaint")
SMALL = ("small", "small-options")
TOLERANCE = 1e-5


_manifest = partial(manifest, ARCH)
_fixture = partial(fixture, ARCH)
_section = section

def _loaded(name: str) -> tuple[dict, torch.nn.Module, dict[str, torch.Tensor], list[int]]:
    """(config, our model with the reference's fixture weights loaded strict=True, tensors, input sides)."""
    metadata, tensors = _fixture(name)
    config = json.loads(metadata["config"])
    model = build(ARCH, config).eval()
    # weights are float16-exact float32 values stored as float16 (see the fixture's metadata)
    state = {k: v.float() if v.is_floating_point() else v for k, v in _section(tensors, "state_dict.").items()}
    model.load_state_dict(state, strict=True)
    return config, model, tensors, json.loads(metadata["sides"])


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_configuration_has_the_reference_keys_and_shapes(name: str) -> None:
    """Every key, shape and dtype (Swin buffers included) of the published denoisers, in the reference's order."""
    manifest = _manifest(name)
    with torch.device("meta"):
        model = build(ARCH, manifest["config"])
    ours = [[key, list(value.shape), str(value.dtype).replace("torch.", "")] for key, value in model.state_dict().items()]
    assert ours == manifest["state_dict"]
    assert manifest["forward_check"]["max_abs_diff"] <= TOLERANCE
    assert manifest["forward_check"]["buffers_as_built_equal"] is True


def test_published_x4_configuration_is_the_one_resshift_ships() -> None:
    """realsr-x4 holds the arguments of ResShift's x4 configs (v1/v2/v3 real-SR and bicubic SR share them)."""
    manifest = _manifest("realsr-x4")
    config = manifest["config"]
    expected = {"image_size": 64, "in_channels": 3, "model_channels": 160, "out_channels": 3, "cond_lq": True,
                "attention_resolutions": [64, 32, 16, 8], "swin_depth": 2, "swin_embed_dim": 192, "window_size": 8,
                "mlp_ratio": 4, "lq_size": 64, "channel_mult": [1, 2, 2, 4], "num_res_blocks": [2, 2, 2, 2],
                "num_head_channels": 32, "use_scale_shift_norm": True, "resblock_updown": False}
    assert {key: config[key] for key in expected} == expected
    assert "configs/bicx4_swinunet_lpips.yaml" in manifest["reference"]["same_arguments_in"]
    assert manifest["parameters"] == 118_593_583


def test_swin_buffers_are_built_like_the_reference() -> None:
    """relative_position_index and the shifted blocks' attn_mask of a fresh model equal the reference's stored ones."""
    _, _, tensors, _ = _loaded("small")
    fresh = build(ARCH, json.loads(_fixture("small")[0]["config"]))
    buffers = dict(fresh.named_buffers())
    assert any(key.endswith("attn_mask") for key in buffers) and any("relative_position_index" in key for key in buffers)
    for key, value in buffers.items():
        assert torch.equal(value, tensors[f"state_dict.{key}"].to(value.dtype)), key


@pytest.mark.parametrize("name", SMALL)
def test_small_fixture_matches_reference_outputs(name: str) -> None:
    """The reference's random weights load strict=True; forward(x, timesteps, lq[, mask]) agrees <= 1e-5 at the
    construction size and at another size (the shifted-window mask is then rebuilt for that size)."""
    config, model, tensors, sides = _loaded(name)
    inputs, expected = _section(tensors, "input."), _section(tensors, "output.")
    assert sides[0] == config["image_size"] and sides[1] != config["image_size"]
    for side in sides:
        case = _section(inputs, f"{side}.")
        extra = {"mask": case["mask"]} if "mask" in case else {}
        assert bool(extra) == bool(config.get("cond_mask"))
        with torch.no_grad():
            out = model(case["x"], case["timesteps"], lq=case["lq"], **extra)
        torch.testing.assert_close(out, expected[str(side)], rtol=0, atol=TOLERANCE)
        assert out.shape == (2, config["out_channels"], side, side)


def test_forward_depends_on_lq_and_timesteps() -> None:
    """The conditioning is used: another LQ image or other timesteps change the output (well beyond the tolerance)."""
    _, model, tensors, sides = _loaded("small")
    case = _section(_section(tensors, "input."), f"{sides[0]}.")
    with torch.no_grad():
        base = model(case["x"], case["timesteps"], lq=case["lq"])
        assert (model(case["x"], case["timesteps"], lq=case["lq"].flip(-1)) - base).abs().max() > 1e-3
        assert (model(case["x"], case["timesteps"] + 5, lq=case["lq"]) - base).abs().max() > 1e-3


def test_forward_signature_and_conditioning_checks() -> None:
    """forward(x, timesteps, lq=None, mask=None) as UNetModelSwin; a mask needs cond_mask (asserted by the reference)."""
    parameters = inspect.signature(build(ARCH, json.loads(_fixture("small")[0]["config"])).forward).parameters
    assert list(parameters) == ["x", "timesteps", "lq", "mask"]
    assert parameters["lq"].default is None and parameters["mask"].default is None
    _, model, tensors, sides = _loaded("small")
    case = _section(_section(tensors, "input."), f"{sides[0]}.")
    with pytest.raises(ValueError, match="cond_mask"):
        model(case["x"], case["timesteps"], lq=case["lq"], mask=case["lq"][:, :1])
