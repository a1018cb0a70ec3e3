"""DifFace (zsyOAOA/DifFace UNetModel, the iDDPM FFHQ-512 prior) rebuilt by restore_core.published.

The manifest (the FFHQ-512 prior of configs/sample/iddpm_ffhq512_swinir.yaml)
and the small random-weight fixtures were made by the reference code
(scripts/make_published_fixtures.py --reference-dir difface=<checkout>; see
docs/published.md).  These tests pin the state-dict layout, the numerics
against the reference (including DifFace's own reading of
attention_resolutions as feature sizes and its one-head decoder attention)
and the forward signature.
"""
from __future__ import annotations

import inspect
import json
from functools import partial
from pathlib import Path

import pytest
import torch

from restore_core.published import build
from restore_core.published.difface import FFHQ512_PRIOR
from tests.published.facts import fixture, section

HERE = Path(__file__).resolve().parent
SMALL = ("small", "small-1d")
TOLERANCE = 1e-5


_fixture = partial(fixture, "difface")
_section = section

def test_ffhq512_prior_has_the_reference_keys_and_shapes() -> None:
    """Every key, shape and dtype of the reference's FFHQ-512 prior, in order; FFHQ512_PRIOR is the manifest's config."""
    manifest = json.loads((HERE / "manifests" / "difface-ffhq512.json").read_text())
    assert manifest["config"] == FFHQ512_PRIOR
    with torch.device("meta"):
        model = build("difface", manifest["config"])
    ours = [[key, list(value.shape), str(value.dtype).replace("torch.", "")] for key, value in model.state_dict().items()]
    assert ours == manifest["state_dict"]
    assert manifest["forward_check"]["max_abs_diff"] <= TOLERANCE
    assert manifest["forward_check"]["output_abs_max"] > 0.5


@pytest.mark.parametrize("name", SMALL)
def test_small_fixture_matches_reference_outputs(name: str) -> None:
    """The reference's random weights load strict=True and forward(x, timesteps[, y]) agrees within 1e-5."""
    metadata, tensors = _fixture(name)
    model = build("difface", json.loads(metadata["config"])).eval()
    model.load_state_dict(_section(tensors, "state_dict."), strict=True)
    inputs, expected = _section(tensors, "input."), _section(tensors, "output.")
    with torch.no_grad():
        out = model(inputs["x"], inputs["timesteps"], inputs.get("y"))
    torch.testing.assert_close(out, expected["out"], rtol=0, atol=TOLERANCE)
    assert float(expected["out"].abs().max()) > 0.5


def test_attention_follows_feature_sizes_tracked_like_the_reference() -> None:
    """image_size 10: encoder sizes 10, 5, 2 and decoder sizes 8, 4, 2, so [5, 8] puts attention at different levels."""
    metadata, _ = _fixture("small-1d")
    model = build("difface", json.loads(metadata["config"]))
    attention = [key.split(".qkv")[0] for key in model.state_dict() if key.endswith("qkv.weight")]
    assert attention == ["input_blocks.3.1", "input_blocks.4.1", "middle_block.1", "output_blocks.5.1", "output_blocks.6.1"]
    decoder_heads = {model.output_blocks[5][1].num_heads, model.output_blocks[6][1].num_heads}
    assert model.input_blocks[3][1].num_heads == 2 and decoder_heads == {1}


def test_forward_signature_and_arguments() -> None:
    """forward(x, timesteps, y=None) as the reference; num_res_blocks must have one entry per level; no unknown keys."""
    metadata, _ = _fixture("small")
    config = json.loads(metadata["config"])
    model = build("difface", config)
    parameters = inspect.signature(model.forward).parameters
    assert list(parameters) == ["x", "timesteps", "y"] and parameters["y"].default is None
    assert callable(model.convert_to_fp16) and callable(model.convert_to_fp32)
    with pytest.raises(ValueError, match="num_res_blocks"):
        build("difface", {**config, "num_res_blocks": [1, 1]})
    with pytest.raises(TypeError):
        build("difface", {**config, "num_heads_upsample": 2})  # not a DifFace argument
