"""DisC-Diff (Yebulabula/DisC-Diff multi-stream SuperResModel) rebuilt by restore_core.published.

The manifest (the IXI model of config/config_train.yaml through the
reference's sr_create_model) and the small random-weight fixture were made by
the reference code (scripts/make_published_fixtures.py --reference-dir
disc-diff=<checkout>; see docs/published.md).  These tests pin the
state-dict layout of the published configuration, the seven outputs against
the reference, the forward signature and the config forms.
"""
from __future__ import annotations

import inspect
import json
from functools import partial
from pathlib import Path

import pytest
import torch

from restore_core.published import build
from restore_core.published.disc_diff import sr_model_kwargs
from tests.published.facts import fixture, manifest, section

HERE = Path(__file__).resolve().parent
OUTPUTS = ("com_h1", "com_h2", "com_h3", "dist_h1", "dist_h2", "dist_h3", "out")
TOLERANCE = 1e-5


_manifest = partial(manifest, "disc-diff", "ixi")
_fixture = partial(fixture, "disc-diff", "small")
_section = section

def test_ixi_model_has_the_reference_keys_and_shapes() -> None:
    """Every key, shape and dtype of the reference's IXI model, in order, built from the whole config_train.yaml."""
    manifest = _manifest()
    with torch.device("meta"):
        model = build("disc-diff", manifest["config"])
    ours = [[key, list(value.shape), str(value.dtype).replace("torch.", "")] for key, value in model.state_dict().items()]
    assert ours == manifest["state_dict"]
    assert manifest["forward_check"]["max_abs_diff"] <= TOLERANCE
    assert model.bottleneck_channels == 288  # the reference's hard-coded conv_ch, derived as 96 x 3


def test_small_fixture_matches_the_seven_reference_outputs() -> None:
    """The reference's random weights (three distinct streams) load strict=True; all seven outputs agree within 1e-5."""
    metadata, tensors = _fixture()
    model = build("disc-diff", json.loads(metadata["config"])).eval()
    state = _section(tensors, "state_dict.")
    assert not torch.equal(state["input_blocks.1.0.in_layers.2.weight"], state["input_blocks_lr.1.0.in_layers.2.weight"])
    model.load_state_dict(state, strict=True)
    inputs, expected = _section(tensors, "input."), _section(tensors, "output.")
    with torch.no_grad():
        outputs = model(inputs["x"], inputs["timesteps"], low_res=inputs["low_res"], other=inputs["other"])
    assert len(outputs) == len(OUTPUTS) == len(expected)
    for name, output in zip(OUTPUTS, outputs):
        torch.testing.assert_close(output, expected[name], rtol=0, atol=TOLERANCE, msg=name)
    assert float(expected["out"].abs().max()) > 0.5


def test_forward_signature() -> None:
    """forward(x, timesteps, *, low_res, other): the conditions are keywords, as the reference's **kwargs lookup."""
    metadata, tensors = _fixture()
    model = build("disc-diff", json.loads(metadata["config"]))
    parameters = inspect.signature(model.forward).parameters
    assert list(parameters) == ["x", "timesteps", "low_res", "other"]
    assert parameters["low_res"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["other"].kind is inspect.Parameter.KEYWORD_ONLY
    with pytest.raises(TypeError):
        model(tensors["input.x"], tensors["input.timesteps"], tensors["input.low_res"], tensors["input.other"])


def test_config_forms() -> None:
    """The YAML form fixes channel_mult and attention as sr_create_model does; typos and non-2-D models are refused."""
    config = _manifest()["config"]
    kwargs = sr_model_kwargs(config)
    assert kwargs["channel_mult"] == (1, 1, 2, 2, 3, 3) and kwargs["attention_resolutions"] == (8, 16, 32)
    assert (kwargs["in_channels"], kwargs["out_channels"], kwargs["model_channels"]) == (1, 2, 96)
    with pytest.raises(TypeError, match="num_chanels"):
        build("disc-diff", {**config, "num_chanels": 1})
    metadata, _ = _fixture()
    with pytest.raises(ValueError, match="2-D"):
        build("disc-diff", {**json.loads(metadata["config"]), "dims": 1})
