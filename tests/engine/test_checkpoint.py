"""Model checkpoints and training state: round trips, corruption, bit-exact resume."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from safetensors import safe_open

import restore_core
from restore_core.engine.checkpoint import (
    CheckpointError,
    capture_rng_state,
    load_checkpoint,
    load_training_state,
    restore_rng_state,
    save_checkpoint,
    save_training_state,
)


def _denoiser() -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.GroupNorm(2, 4),
        torch.nn.SiLU(),
        torch.nn.Conv2d(4, 1, 1),
    )


def _encoder() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.BatchNorm1d(5))


def test_round_trip_restores_identical_module_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    denoiser, encoder = _denoiser(), _encoder()
    encoder.train()(torch.randn(8, 6))  # non-trivial BatchNorm running stats
    ema = copy.deepcopy(denoiser)
    with torch.no_grad():
        next(ema.parameters()).mul_(0.5)
    config = OmegaConf.create({"model": {"width": 4}, "train": {"width_copy": "${model.width}"}})
    card = {
        "config": config,
        "data": "synthetic blobs",
        "steps": 10,
        "validation": {"psnr": np.float32(31.5)},
    }

    file = save_checkpoint(
        tmp_path / "ckpt.safetensors",
        {
            "denoiser": denoiser.state_dict(),
            "encoder": encoder.state_dict(),
            "ema_denoiser": ema.state_dict(),
        },
        card,
    )
    modules, loaded_card = load_checkpoint(file)

    fresh = {"denoiser": _denoiser(), "encoder": _encoder(), "ema_denoiser": _denoiser()}
    for name, module in fresh.items():
        module.load_state_dict(modules[name], strict=True)
    image, features = torch.randn(2, 1, 8, 8), torch.randn(3, 6)
    assert torch.equal(fresh["denoiser"](image), denoiser(image))
    assert torch.equal(fresh["ema_denoiser"](image), ema(image))
    assert torch.equal(fresh["encoder"].eval()(features), encoder.eval()(features))

    assert loaded_card["config"] == {"model": {"width": 4}, "train": {"width_copy": 4}}  # resolved
    assert loaded_card["validation"] == {"psnr": 31.5} and loaded_card["steps"] == 10
    assert loaded_card["code_version"]["restore_core"] == restore_core.__version__
    assert "git_commit" in loaded_card["code_version"] and loaded_card["created"]
    assert set(loaded_card["module_elements"]) == {"denoiser", "encoder", "ema_denoiser"}
    with safe_open(str(file), framework="pt") as handle:
        keys, embedded = set(handle.keys()), json.loads(handle.metadata()["card"])
    assert "denoiser.0.weight" in keys and "ema_denoiser.3.bias" in keys
    assert embedded == {key: value for key, value in loaded_card.items() if key != "sha256"}


def test_directory_path_and_card_without_json(tmp_path: Path) -> None:
    file = save_checkpoint(tmp_path / "run", {"denoiser": _denoiser().state_dict()}, {"steps": 1})
    assert file == tmp_path / "run" / "model.safetensors" and (tmp_path / "run" / "model.json").is_file()
    (tmp_path / "run" / "model.json").unlink()
    modules, card = load_checkpoint(tmp_path / "run")
    assert card["steps"] == 1 and "sha256" not in card and set(modules) == {"denoiser"}


def test_corrupt_weights_are_detected(tmp_path: Path) -> None:
    file = save_checkpoint(tmp_path / "c.safetensors", {"denoiser": _denoiser().state_dict()}, {})
    data = bytearray(file.read_bytes())
    data[-3] ^= 0xFF  # flip bits inside the tensor data
    file.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"corrupt or was modified.*sha256"):
        load_checkpoint(file)
    file.write_bytes(bytes(data[:40]))  # truncated, and no card to compare against
    file.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match="corrupt or not a safetensors file"):
        load_checkpoint(file)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "absent.safetensors")


def test_tied_weights_save_and_bad_inputs_are_rejected(tmp_path: Path) -> None:
    weight = torch.randn(3, 3)
    modules, _ = load_checkpoint(
        save_checkpoint(tmp_path / "t.safetensors", {"net": {"a": weight, "b": weight}}, {})
    )
    assert torch.equal(modules["net"]["a"], modules["net"]["b"])
    with pytest.raises(TypeError, match="only tensors"):
        save_checkpoint(tmp_path / "x.safetensors", {"net": {"a": 3}}, {})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="dot-free"):
        save_checkpoint(tmp_path / "x.safetensors", {"a.b": {}}, {})
    with pytest.raises(TypeError, match=r"card\.data"):
        save_checkpoint(tmp_path / "x.safetensors", {"net": {}}, {"data": object()})


def test_training_state_keeps_python_types_and_rng(tmp_path: Path) -> None:
    extra = {
        "ints": {1: "one", 2: (3, 4.5)},
        "flag": True,
        "none": None,
        "array": np.arange(6, dtype=np.int16).reshape(2, 3),
    }
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    rng = capture_rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(1))
    file = save_training_state(
        tmp_path, {"state": {}, "param_groups": []}, step=7, rng_state=rng, extra=extra
    )
    assert file.name == "training_state.safetensors"

    state = load_training_state(file)
    assert state.step == 7 and state.extra is not None
    assert (
        state.extra["ints"] == {1: "one", 2: (3, 4.5)}
        and state.extra["flag"] is True
        and state.extra["none"] is None
    )
    np.testing.assert_array_equal(state.extra["array"], extra["array"])
    assert state.extra["array"].dtype == np.int16
    assert state.rng_state is not None
    restore_rng_state(state.rng_state)
    assert (random.random(), np.random.rand()) == expected[:2] and torch.equal(torch.rand(1), expected[2])


def test_training_state_rejects_other_files(tmp_path: Path) -> None:
    file = save_checkpoint(tmp_path / "m.safetensors", {"net": {"w": torch.ones(1)}}, {})
    with pytest.raises(CheckpointError, match="not a restore training state"):
        load_training_state(file)


def _train(model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: object, steps: int) -> None:
    for _ in range(steps):
        inputs = torch.randn(16, 4)  # global RNG: resume must restore it
        targets = inputs.sum(dim=1, keepdim=True)
        loss = torch.nn.functional.mse_loss(model(inputs), targets)  # dropout also draws from the RNG
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()  # type: ignore[attr-defined]


def _make_run(seed: int) -> tuple[torch.nn.Module, torch.optim.Optimizer, object]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(16, 1)
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.8, 0.99), weight_decay=0.05)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=20)
    return model, optimizer, scheduler


def test_resume_equals_uninterrupted_run_bit_for_bit(tmp_path: Path) -> None:
    total_steps, interrupt_at = 12, 5
    model, optimizer, scheduler = _make_run(seed=0)
    _train(model, optimizer, scheduler, total_steps)

    first, first_optimizer, first_scheduler = _make_run(seed=0)
    _train(first, first_optimizer, first_scheduler, interrupt_at)
    save_checkpoint(tmp_path / "model.safetensors", {"model": first.state_dict()}, {"steps": interrupt_at})
    save_training_state(
        tmp_path / "state.safetensors",
        first_optimizer.state_dict(),
        step=interrupt_at,
        rng_state=capture_rng_state(),
        scheduler_state=first_scheduler.state_dict(),  # type: ignore[attr-defined]
    )
    del first, first_optimizer, first_scheduler
    torch.manual_seed(123)  # the resumed process starts from a different RNG state

    resumed, resumed_optimizer, resumed_scheduler = _make_run(seed=99)  # different initial weights
    modules, _ = load_checkpoint(tmp_path / "model.safetensors")
    resumed.load_state_dict(modules["model"])
    state = load_training_state(tmp_path / "state.safetensors", resumed_optimizer, resumed_scheduler)
    assert state.rng_state is not None
    restore_rng_state(state.rng_state)
    _train(resumed, resumed_optimizer, resumed_scheduler, total_steps - state.step)

    for (name, expected), actual in zip(
        model.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(expected, actual), name
    assert resumed_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    assert resumed_optimizer.param_groups[0]["betas"] == (0.8, 0.99)
    for expected_state, actual_state in zip(
        optimizer.state.values(), resumed_optimizer.state.values(), strict=True
    ):
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(expected_state[key], actual_state[key]), key
