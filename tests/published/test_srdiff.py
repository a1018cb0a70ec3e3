"""SRDiff (LeiaLi/SRDiff GaussianDiffusion: Unet + RRDBNet + schedule) rebuilt by restore_core.published.

The manifests and fixtures were made by the reference code
(scripts/make_published_fixtures.py --reference-dir srdiff=<checkout>); see
docs/published.md.  These tests pin the state-dict layout of the published
configurations and the numerics of both sub-networks against the reference.
"""
from __future__ import annotations

import inspect
import json
from functools import partial
from pathlib import Path

import pytest
import torch

from restore_core.published import build
from restore_core.published.srdiff import (
    PUBLISHED_HPARAMS,
    SCHEDULE_BUFFERS,
    resolve_config,
)
from tests.published.facts import fixture, manifest, section

HERE = Path(__file__).resolve().parent
PUBLISHED = ("df2k4x", "celeb_a8x")
SMALL = ("small", "small-x8")
TOLERANCE = 1e-5


_manifest = partial(manifest, "srdiff")
_fixture = partial(fixture, "srdiff")
_section = section

@pytest.mark.parametrize("name", PUBLISHED)
def test_published_configuration_has_the_reference_keys_and_shapes(name: str) -> None:
    """Every key, shape and dtype of the reference's full DF2K x4 / CelebA x8 model, in the reference's order."""
    manifest = _manifest(name)
    with torch.device("meta"):
        model = build("srdiff", manifest["config"])
    ours = [[key, list(value.shape), str(value.dtype).replace("torch.", "")] for key, value in model.state_dict().items()]
    assert ours == manifest["state_dict"]
    assert manifest["forward_check"]["max_abs_diff"] <= TOLERANCE


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_hparams_resolve_like_the_reference_configs(name: str) -> None:
    """PUBLISHED_HPARAMS over the diffsr_base.yaml defaults gives the model hparams the reference's YAML chain resolved."""
    manifest = _manifest(name)
    assert resolve_config({"hparams": PUBLISHED_HPARAMS[name]})["hparams"] == manifest["config"]["hparams"]


@pytest.mark.parametrize("name", SMALL)
def test_small_fixture_matches_reference_outputs(name: str) -> None:
    """The reference's random weights load strict=True; rrdb(img_lr, get_fea=True) and denoise_fn(...) agree <= 1e-5."""
    metadata, tensors = _fixture(name)
    config = json.loads(metadata["config"])
    model = build("srdiff", config).eval()
    state = _section(tensors, "state_dict.")
    model.load_state_dict(state, strict=True)
    inputs, expected = _section(tensors, "input."), _section(tensors, "output.")

    with torch.no_grad():
        rrdb_out, features = model.rrdb(inputs["img_lr"], get_fea=True)
        assert torch.equal(model.rrdb(inputs["img_lr"]), rrdb_out)
        n_features = len([key for key in expected if key.startswith("rrdb_fea.")])
        assert len(features) == n_features == config["hparams"]["rrdb_num_block"] + 1
        torch.testing.assert_close(rrdb_out, expected["rrdb_out"], rtol=0, atol=TOLERANCE)
        for index, feature in enumerate(features):
            torch.testing.assert_close(feature, expected[f"rrdb_fea.{index}"], rtol=0, atol=TOLERANCE)
        reference_cond = [expected[f"rrdb_fea.{index}"] for index in range(n_features)]
        eps = model.denoise_fn(inputs["x"], inputs["t"], reference_cond, inputs["img_lr_up"])
        torch.testing.assert_close(eps, expected["denoise"], rtol=0, atol=TOLERANCE)
        eps_end_to_end = model.denoise_fn(inputs["x"], inputs["t"], features, inputs["img_lr_up"])
        torch.testing.assert_close(eps_end_to_end, expected["denoise"], rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("name", SMALL)
def test_schedule_buffers_are_computed_like_the_reference(name: str) -> None:
    """A freshly built model's twelve schedule buffers equal the reference's (cosine x100, linear x20 with res)."""
    metadata, tensors = _fixture(name)
    model = build("srdiff", json.loads(metadata["config"]))
    assert list(model._buffers) == list(SCHEDULE_BUFFERS)
    for key in SCHEDULE_BUFFERS:
        torch.testing.assert_close(getattr(model, key), tensors[f"state_dict.{key}"], rtol=1e-6, atol=1e-7)
    assert model.num_timesteps == json.loads(metadata["config"])["hparams"]["timesteps"]


def test_forward_signatures_are_the_reference_ones() -> None:
    """rrdb(x, get_fea=False) and denoise_fn(x, time, cond, img_lr_up), as the reference's RRDBNet / Unet."""
    with torch.device("meta"):
        model = build("srdiff", _manifest("df2k4x")["config"])
    rrdb = inspect.signature(model.rrdb.forward).parameters
    assert list(rrdb) == ["x", "get_fea"] and rrdb["get_fea"].default is False
    assert list(inspect.signature(model.denoise_fn.forward).parameters) == ["x", "time", "cond", "img_lr_up"]


def test_config_errors_and_use_rrdb() -> None:
    """sr_scale is required, unknown schedules and sections are refused, use_rrdb=False leaves no rrdb keys."""
    with pytest.raises(KeyError, match="sr_scale"):
        build("srdiff", {"hparams": {}})
    with pytest.raises(ValueError, match="beta_schedule"):
        build("srdiff", {"hparams": {"sr_scale": 4, "beta_schedule": "quad"}})
    with pytest.raises(KeyError, match="Unets"):
        build("srdiff", {"Unets": {}, "hparams": {"sr_scale": 4}})
    with torch.device("meta"):
        model = build("srdiff", {"hparams": {"sr_scale": 4, "use_rrdb": False, "hidden_size": 8}})
    assert model.rrdb is None and not any(key.startswith("rrdb.") for key in model.state_dict())
