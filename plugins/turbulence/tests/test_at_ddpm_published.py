"""``--method at-ddpm --weights NAME``: a published AT-DDPM checkpoint (guided-diffusion UNetModel, 6 input channels).

Pins: a state dict saved as the reference saves it (``th.save(model.state_dict())``) is added with the
reference's config names and restores a frame end to end; the runner's ``denoise`` is the network's
first C output channels for ``cat([x_t, frame], 1)`` (the reference ``ATDDPM`` forward) with the frame
being the first C channels of the turbulence condition, not the fused burst; the truncated start
diffuses that frame; an unconditional network is refused with one line.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from restore_core.cli import main
from restore_core.published import build
from restore_core.published.runners import load_runner
from turbulence_support import clean_image

#: a tiny ATDDPM-shaped guided-diffusion UNetModel (the published one: 192 channels, mult 1,1,2,2,4,4 at 256)
CONFIG = {
    "image_size": 32, "in_channels": 6, "model_channels": 32, "out_channels": 6, "num_res_blocks": 1,
    "attention_resolutions": [2], "dropout": 0.0, "channel_mult": [1, 2], "conv_resample": True, "dims": 2,
    "num_classes": None, "use_checkpoint": False, "use_fp16": False, "num_heads": 1, "num_head_channels": 32,
    "num_heads_upsample": -1, "use_scale_shift_norm": True, "resblock_updown": True, "use_new_attention_order": False,
}
#: the reference's diffusion settings (script_util names)
DIFFUSION = {"noise_schedule": "linear", "diffusion_steps": 1000, "learn_sigma": True, "predict_xstart": False, "rescale_timesteps": True}


def _network(config: dict = CONFIG) -> torch.nn.Module:
    torch.manual_seed(0)
    network = build("guided-diffusion", config).eval()
    with torch.no_grad():  # guided-diffusion zero-initialises its output convolution: give it weights
        for p in network.parameters():
            if float(p.abs().sum()) == 0:
                p.normal_(0, 0.05)
    return network


@pytest.fixture
def saved(tmp_path):
    network = _network()
    path = tmp_path / "model.pt"
    torch.save(network.state_dict(), path)
    return path, network


def test_denoise_is_the_network_on_state_and_frame_concatenated(saved):
    path, network = saved
    runner = load_runner({"arch": "guided-diffusion", "config": CONFIG, "diffusion": DIFFUSION}, path, None, "cpu")
    assert runner.prediction_type == "epsilon" and runner.channels == 3 and runner.cond_channels == 3 and runner.learn_sigma
    g = torch.Generator().manual_seed(1)
    frame, fused = torch.rand(2, 3, 20, 28, generator=g) * 2 - 1, torch.rand(2, 3, 20, 28, generator=g) * 2 - 1
    cond = runner.condition(torch.cat([frame, fused], 1), (20, 28))
    assert torch.equal(cond.tensors["up_lr"], frame)  # the frame to restore, not the fused burst
    x_t, t = torch.randn(2, 3, 20, 28, generator=g), torch.tensor([60, 600])
    with torch.no_grad():
        got = runner.denoise(x_t, t, cond)
        padded = torch.nn.functional.pad(torch.cat([x_t, frame], 1), (0, 4, 0, 4), mode="reflect")  # to the net's multiple 2
        expected = network(padded[..., :20, :28], t.float())[:, :3]
    assert got.shape == (2, 3, 20, 28)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    assert runner.last_variance_values.shape == (2, 3, 20, 28)  # [eps, v]: v kept for sampler.name=iddpm
    with torch.no_grad():
        other = runner.denoise(x_t, t, runner.condition(torch.cat([fused, frame], 1), (20, 28)))
    assert float((other - got).abs().max()) > 1e-3  # the condition reaches the network


def test_weights_add_then_restore_a_frame_through_the_cli(saved, tmp_path, monkeypatch):
    monkeypatch.setenv("RESTORE_CACHE", str(tmp_path / "cache"))
    path, _ = saved
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    (tmp_path / "diffusion.json").write_text(json.dumps(DIFFUSION))
    assert main(["weights", "add", "atddpm-tiny", "--file", str(path), "--arch", "guided-diffusion",
                 "--config", str(tmp_path / "config.json"), "--diffusion", str(tmp_path / "diffusion.json")]) == 0
    Image.fromarray(clean_image(30)).save(tmp_path / "frame.png")
    out = tmp_path / "out.png"
    assert main(["--quiet", "--plugin", "turbulence", "--method", "at-ddpm", str(tmp_path / "frame.png"), "--weights", "atddpm-tiny",
                 "-o", str(out), "sampler.steps=2"]) == 0
    restored = np.asarray(Image.open(out))
    assert restored.shape == (30, 30, 3)
    # the paper's own sampler (ancestral DDPM with the learned variance) runs too
    assert main(["--quiet", "--plugin", "turbulence", "--method", "at-ddpm", str(tmp_path / "frame.png"), "--weights", "atddpm-tiny",
                 "-o", str(tmp_path / "iddpm.png"), "sampler.name=iddpm", "sampler.steps=3"]) == 0


def test_an_unconditional_guided_diffusion_network_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RESTORE_CACHE", str(tmp_path / "cache"))
    config = {**CONFIG, "in_channels": 3}
    path = tmp_path / "prior.pt"
    torch.save(_network(config).state_dict(), path)
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "diffusion.json").write_text(json.dumps(DIFFUSION))
    assert main(["weights", "add", "prior-tiny", "--file", str(path), "--arch", "guided-diffusion",
                 "--config", str(tmp_path / "config.json"), "--diffusion", str(tmp_path / "diffusion.json")]) == 0
    Image.fromarray(clean_image(32)).save(tmp_path / "frame.png")
    capsys.readouterr()
    code = main(["--quiet", "--plugin", "turbulence", "--method", "at-ddpm", str(tmp_path / "frame.png"), "--weights", "prior-tiny",
                 "-o", str(tmp_path / "out.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not (tmp_path / "out.png").exists()
    assert len(err) == 1 and "unconditional" in err[0]
