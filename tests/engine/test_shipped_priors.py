"""The shipped unconditional priors are published-layout weights with truthful cards, and run zero-shot."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from restore_core.published import build
from restore_core.published.state_files import load_into
from restore_core.weights import sha256_of_file

REPO = Path(__file__).resolve().parents[2]
PRIORS = {
    "image": REPO / "plugins/image/restore_image/checkpoints/prior-image.safetensors",
    "mri": REPO / "plugins/mri/restore_mri/checkpoints/prior-mri.safetensors",
}


@pytest.mark.parametrize("plugin", sorted(PRIORS))
def test_a_shipped_prior_loads_strictly_as_its_card_says(plugin):
    """The file is the card's architecture in the reference's own keys (so `restore weights add` takes it),
    its sha256 is the card's, and the card says how it was trained (data, steps, seconds)."""
    path = PRIORS[plugin]
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["sha256"] == sha256_of_file(path)
    load_into(build(card["arch"], card["config"]), path)
    assert card["diffusion"]["beta_schedule"] in ("linear", "cosine") and card["trained"]["steps"] > 0
    assert card["trained"]["train_seconds"] > 0 and card["trained"]["data"]["path"]
    assert path.stat().st_size < 10e6


@pytest.mark.parametrize("plugin, method", [("image", "ddnm"), ("mri", "r2d2-zs")])
def test_the_zero_shot_presets_use_the_shipped_prior(plugin, method):
    """Without --weights, each zero-shot preset names the shipped prior and the same architecture."""
    from restore_core.api import prepare

    _, cfg = prepare(plugin, method, flags={"device": "cpu", "quiet": True})
    card = json.loads(PRIORS[plugin].with_suffix(".json").read_text())
    assert cfg.prior.checkpoint == PRIORS[plugin].stem
    assert cfg.prior.arch == card["arch"] and dict(cfg.prior.config) == card["config"]
