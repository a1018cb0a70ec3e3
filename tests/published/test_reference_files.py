"""Checkpoints in each reference's own file format load through ``restore weights add`` and run through ``--weights``.

The small fixtures (tests/published/fixtures, made by the reference implementations: docs/published.md)
hold reference state dicts; here each is saved the way its repository saves checkpoints (a pickled
dict, wrapped and prefixed as training wrappers leave them), added to the weights registry, and the
guided-diffusion one restores a sample through ``--weights``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

from restore_core.cli import main

FIXTURES = Path(__file__).with_name("fixtures")
#: arch -> how its repository saves weights (the wrapper the file holds).
LAYOUTS = {
    "guided-diffusion": lambda sd: sd,  # guided-diffusion: th.save(model.state_dict())
    "difface": lambda sd: {"state_dict": sd},
    "disc-diff": lambda sd: sd,
    "srdiff": lambda sd: {"state_dict": {"model": sd}},  # SRDiff's trainer: {'state_dict': {'model': ...}}
    "resshift-swin-unet": lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}},  # DDP-saved
    "resshift-vq-f4": lambda sd: {"state_dict": {f"_orig_mod.{k}": v for k, v in sd.items()}},  # torch.compile-saved
}


def fixture(arch: str) -> tuple[dict[str, torch.Tensor], dict]:
    with safe_open(str(FIXTURES / f"{arch}-small.safetensors"), "pt") as handle:
        state = {k[len("state_dict."):]: handle.get_tensor(k).float() for k in handle.keys() if k.startswith("state_dict.")}
        config = json.loads(handle.metadata()["config"])
    return state, config


@pytest.fixture(autouse=True)
def private_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("RESTORE_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("arch", sorted(LAYOUTS))
def test_a_reference_format_file_is_added_and_a_broken_one_refused(tmp_path, capsys, arch):
    state, config = fixture(arch)
    (tmp_path / "config.json").write_text(json.dumps(config))
    path = tmp_path / f"{arch}.pth"
    torch.save(LAYOUTS[arch](state), path)
    assert main(["weights", "add", f"my-{arch}", "--file", str(path), "--arch", arch, "--config", str(tmp_path / "config.json")]) == 0
    assert f"added 'my-{arch}'" in capsys.readouterr().out
    broken = dict(state)
    broken.pop(sorted(broken)[0])
    torch.save(LAYOUTS[arch](broken), tmp_path / "broken.pth")
    assert main(["weights", "add", "broken", "--file", str(tmp_path / "broken.pth"), "--arch", arch, "--config", str(tmp_path / "config.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "1 missing" in err


@pytest.mark.parametrize("arch", ["guided-diffusion", "difface"])
def test_an_added_reference_prior_restores_a_photo_through_weights(tmp_path, capsys, arch):
    """guided-diffusion / DifFace prior weights saved as their repository does, added by name, then --weights NAME on ddnm."""
    state, config = fixture(arch)
    config = {**config, "image_size": 8}
    (tmp_path / "config.json").write_text(json.dumps(config))
    # its schedule, in guided-diffusion's own flag names: learned sigma (6 output channels), linear, 1000 steps, eps
    (tmp_path / "schedule.yaml").write_text("noise_schedule: linear\ndiffusion_steps: 1000\nlearn_sigma: true\npredict_xstart: false\n")
    torch.save(LAYOUTS[arch](state), tmp_path / "adm.pt")
    assert main(["weights", "add", "tiny-adm", "--file", str(tmp_path / "adm.pt"), "--arch", arch,
                 "--config", str(tmp_path / "config.json"), "--diffusion", str(tmp_path / "schedule.yaml")]) == 0
    assert "tiny-adm" in (tmp_path / "cache" / "registry.yaml").read_text()
    image = (np.random.default_rng(0).random((4, 4, 3)) * 255).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "in.png")
    out = tmp_path / "out.png"
    assert main(["--quiet", "--plugin", "image", "--method", "ddnm", str(tmp_path / "in.png"), "-o", str(out),
                 "--weights", "tiny-adm", "--scale", "2", "sampler.steps=2"]) == 0
    assert np.asarray(Image.open(out)).shape == (8, 8, 3)
