"""guided-diffusion (openai/guided-diffusion UNetModel, ADM) rebuilt by restore_core.published.

The manifests (OpenAI's 256x256 unconditional ImageNet model, DPS's FFHQ
model, AT-DDPM's 6-channel model, improved-diffusion's CIFAR-10 and ImageNet-64
models) and the small random-weight fixtures were
made by the reference code (scripts/make_published_fixtures.py
--reference-dir guided-diffusion=<checkout> ...; see docs/published.md).
These tests pin the state-dict layout of the published configurations, the
numerics against the reference, the forward signature and the config forms.
"""
from __future__ import annotations

import inspect
import json
from functools import partial
from pathlib import Path

import pytest
import torch

from restore_core.published import build
from restore_core.published.guided_diffusion import unet_kwargs
from tests.published.facts import fixture, layout, manifest, section

HERE = Path(__file__).resolve().parent
PUBLISHED = ("imagenet256-uncond", "dps-ffhq256", "atddpm256", "improved-cifar10", "improved-imagenet64-uncond")
SMALL = ("small", "small-1d", "small-1d-resample")
TOLERANCE = 1e-5


_manifest = partial(manifest, "guided-diffusion")
_fixture = partial(fixture, "guided-diffusion")
_section = section
_layout = layout

@pytest.mark.parametrize("name", PUBLISHED)
def test_published_configuration_has_the_reference_keys_and_shapes(name: str) -> None:
    """Every key, shape and dtype of the reference's full model, in the reference's order, from the script config."""
    manifest = _manifest(name)
    with torch.device("meta"):
        model = build("guided-diffusion", manifest["config"])
    assert _layout(model) == manifest["state_dict"]
    assert manifest["forward_check"]["max_abs_diff"] <= TOLERANCE


def test_published_configurations_resolve_to_the_documented_networks() -> None:
    """The script configs mean: 256 ch / 6 levels / 6 outputs (OpenAI), 128 ch / 1 block (DPS), 6 inputs (AT-DDPM), ..."""
    openai = unet_kwargs(_manifest("imagenet256-uncond")["config"])
    assert (openai["model_channels"], openai["num_res_blocks"], openai["out_channels"]) == (256, 2, 6)
    assert openai["attention_resolutions"] == (8, 16, 32) and openai["channel_mult"] == (1, 1, 2, 2, 4, 4)
    dps = unet_kwargs(_manifest("dps-ffhq256")["config"])
    assert (dps["model_channels"], dps["num_res_blocks"], dps["attention_resolutions"]) == (128, 1, (16,))
    atddpm = unet_kwargs(_manifest("atddpm256")["config"])
    assert (atddpm["in_channels"], atddpm["out_channels"], atddpm["model_channels"]) == (6, 6, 192)
    # The UNetModel form of the same network has the same layout as the script form.
    manifest = _manifest("dps-ffhq256")
    with torch.device("meta"):
        assert _layout(build("guided-diffusion", dps)) == manifest["state_dict"]
    # improved-diffusion: image_size 32 takes its channel_mult; its UNetModel arguments have no image_size.
    cifar = unet_kwargs(_manifest("improved-cifar10")["config"])
    assert cifar["channel_mult"] == (1, 2, 2, 2) and cifar["dropout"] == 0.3
    del cifar["image_size"]
    with torch.device("meta"):
        assert _layout(build("guided-diffusion", cifar)) == _manifest("improved-cifar10")["state_dict"]


@pytest.mark.parametrize("name", SMALL)
def test_small_fixture_matches_reference_outputs(name: str) -> None:
    """The reference's random weights load strict=True and forward(x, timesteps[, y]) agrees within 1e-5."""
    metadata, tensors = _fixture(name)
    model = build("guided-diffusion", json.loads(metadata["config"])).eval()
    model.load_state_dict(_section(tensors, "state_dict."), strict=True)
    inputs, expected = _section(tensors, "input."), _section(tensors, "output.")
    with torch.no_grad():
        out = model(inputs["x"], inputs["timesteps"], inputs.get("y"))
    torch.testing.assert_close(out, expected["out"], rtol=0, atol=TOLERANCE)
    assert float(expected["out"].abs().max()) > 0.5  # the fixture's weights make every path count


def test_forward_signature_and_precision_methods() -> None:
    """forward(x, timesteps, y=None) as the reference; convert_to_fp16 casts only the torso's convolutions, and back."""
    metadata, tensors = _fixture("small")
    model = build("guided-diffusion", json.loads(metadata["config"])).eval()
    parameters = inspect.signature(model.forward).parameters
    assert list(parameters) == ["x", "timesteps", "y"] and parameters["y"].default is None
    model.load_state_dict(_section(tensors, "state_dict."), strict=True)
    model.convert_to_fp16()
    assert model.input_blocks[0][0].weight.dtype == torch.float16
    assert model.middle_block[0].in_layers[0].weight.dtype == torch.float32  # norms stay float32
    assert model.out[2].weight.dtype == torch.float32  # the output head is not part of the torso
    model.convert_to_fp32()
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    model.load_state_dict(_section(tensors, "state_dict."), strict=True)  # the float16 round trip rounded the weights
    inputs = _section(tensors, "input.")
    with torch.no_grad():
        out = model(inputs["x"], inputs["timesteps"])
    torch.testing.assert_close(out, tensors["output.out"], rtol=0, atol=TOLERANCE)


def test_config_errors() -> None:
    """Unknown arguments are refused in every form; labels are required exactly when class-conditional."""
    with pytest.raises(TypeError, match="unknown argument"):
        build("guided-diffusion", {**_manifest("imagenet256-uncond")["config"], "num_chanels": 3})
    with pytest.raises(TypeError, match="unknown argument"):
        build("guided-diffusion", {"image_size": 8, "in_channels": 3, "model_channels": 32, "out_channels": 3,
                                   "num_res_blocks": 1, "attention_resolutions": (), "diffusion_steps": 10})
    with pytest.raises(ValueError, match="channel_mult"):
        build("guided-diffusion", {"image_size": 48, "num_channels": 32, "num_res_blocks": 1})
    metadata, tensors = _fixture("small-1d")
    model = build("guided-diffusion", json.loads(metadata["config"]))
    with pytest.raises(ValueError, match="class-conditional"):
        model(tensors["input.x"], tensors["input.timesteps"])
