"""Training: resume checks, the gradient scaler's state, the precision decision."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from restore_core.context import RunContext
from restore_core.engine.checkpoint import CheckpointError, load_checkpoint, load_training_state, save_checkpoint
from restore_core.engine.pairs import PatchPairs
from restore_core.engine.sr_model import SRDiffusionModel
from restore_core.engine.training import TrainSettings, amp_dtype, native_bf16, train_model
from tests.engine.tiny import DIFFUSION, sr3


def run(out, steps: int):
    torch.manual_seed(0)
    model = SRDiffusionModel(sr3(), DIFFUSION, 2, 3)
    images = [torch.rand(3, 20, 20, generator=torch.Generator().manual_seed(i)) * 2 - 1 for i in range(2)]
    pairs = PatchPairs(images, patch=16, batch_size=1, degradations={2: lambda hr, g: F.avg_pool2d(hr, 2)})
    settings = TrainSettings(steps, 1e-3, 0.0, 0.9, 1.0, 1, 0.1, "l2")
    return train_model(model, pairs, settings, out, RunContext(quiet=True, log=lambda m: None), {"config": {}})


def test_scaler_state_is_saved_and_a_disagreeing_checkpoint_is_refused(tmp_path):
    run(tmp_path, 2)
    state = load_training_state(tmp_path / "training_state.safetensors")
    assert "scaler" in state.extra and state.step == 2
    modules, card = load_checkpoint(tmp_path / "last.safetensors")
    save_checkpoint(tmp_path / "last.safetensors", modules, {**card, "steps": 1})
    with pytest.raises(CheckpointError, match="checkpoint and training state disagree"):
        run(tmp_path, 3)


def test_resume_still_continues_bit_for_bit(tmp_path):
    reference = load_checkpoint(run(tmp_path / "a", 3))[0]["model"]
    run(tmp_path / "b", 2)
    resumed = load_checkpoint(run(tmp_path / "b", 3))[0]["model"]
    assert all(torch.equal(reference[k], resumed[k]) for k in reference)


def test_bf16_only_when_native(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert native_bf16() is False and amp_dtype("cuda") == torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)  # older torch: no keyword
    assert native_bf16() is True and amp_dtype("cuda:0") == torch.bfloat16
    assert amp_dtype("cpu") is None


def test_a_resumed_card_counts_the_seconds_of_every_leg(tmp_path):
    """train_seconds of a paused and resumed run is the time of both legs, kept in the training state."""
    run(tmp_path, 2)
    first = load_training_state(tmp_path / "training_state.safetensors").extra["seconds"]
    assert first > 0
    state = load_training_state(tmp_path / "training_state.safetensors")
    from restore_core.engine.checkpoint import save_training_state

    extra = {**state.extra, "seconds": first + 1000.0}  # as if the first leg had taken 1000 s more
    save_training_state(tmp_path / "training_state.safetensors", state.optimizer_state, state.step, state.rng_state, extra=extra)
    _, card = load_checkpoint(run(tmp_path, 3))
    assert card["train_seconds"] >= 1000.0 and "train_seconds_from_step" not in card
