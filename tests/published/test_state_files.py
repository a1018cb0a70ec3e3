"""Reading published weights files: formats, wrappers and prefixes, a refused pickle, one-line misfits."""
from __future__ import annotations

import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from restore_core.published.state_files import (
    WeightsFileError,
    load_into,
    read_state_dict,
)
from tests.published.toy_arch import ToyNet


def reference_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return ToyNet().state_dict()


@pytest.mark.parametrize(
    "suffix, wrap",
    [
        (".pt", lambda s: s),
        (".pth", lambda s: {"state_dict": {f"module.{k}": v for k, v in s.items()}, "epoch": 3}),
        (".ckpt", lambda s: {"state_dict": {f"_orig_mod.{k}": v for k, v in s.items()}, "optimizer": {"lr": 1e-4}}),
        (".pth", lambda s: {"model": {k: v * 0 for k, v in s.items()}, "ema": s}),  # EMA weights win over raw ones
        (".bin", lambda s: {"params": s}),
    ],
)
def test_published_layouts_load_strictly(tmp_path, suffix, wrap):
    state = reference_state()
    path = tmp_path / f"w{suffix}"
    torch.save(wrap(state), path)
    model = load_into(ToyNet(), path)
    for key, value in state.items():
        assert torch.equal(model.state_dict()[key], value)


def test_safetensors_and_an_explicit_wrapper(tmp_path):
    state = reference_state()
    save_file(state, tmp_path / "w.safetensors")
    assert read_state_dict(tmp_path / "w.safetensors").keys() == state.keys()
    torch.save({"model": state, "ema": {k: v + 1 for k, v in state.items()}}, tmp_path / "both.pt")
    chosen = read_state_dict(tmp_path / "both.pt", wrapper="model")
    assert torch.equal(chosen["conv.weight"], state["conv.weight"])


class Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {Exploit.marker}",))


def test_a_malicious_pickle_is_refused_and_never_executed(tmp_path):
    Exploit.marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"state_dict": Exploit()}, handle)
    with pytest.raises(WeightsFileError) as info:
        read_state_dict(path)
    assert "refused" in str(info.value) and "\n" not in str(info.value)
    assert not Exploit.marker.exists()
    # the same object inside a torch.save zip archive is refused too
    torch_path = tmp_path / "evil_zip.pt"
    torch.save({"state_dict": Exploit()}, torch_path)
    with pytest.raises(WeightsFileError, match="refused"):
        read_state_dict(torch_path)
    assert not Exploit.marker.exists()


def test_a_misfit_is_one_line_naming_missing_unexpected_and_misshaped_keys(tmp_path):
    state = reference_state()
    state.pop("out.bias")
    state["extra.weight"] = torch.zeros(1)
    state["conv.weight"] = torch.zeros(8, 3, 3, 3)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(WeightsFileError) as info:
        load_into(ToyNet(), tmp_path / "bad.pt")
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(tmp_path / "bad.pt"))
    assert "1 missing: out.bias" in message and "1 unexpected: extra.weight" in message
    assert "conv.weight (8, 3, 3, 3) vs (4, 3, 3, 3)" in message


@pytest.mark.parametrize("content, needle", [(b"not a checkpoint", "refused by the weights-only unpickler"), (b"", "not a readable PyTorch checkpoint")])
def test_corrupt_files_are_one_line(tmp_path, content, needle):
    path = tmp_path / "w.pt"
    path.write_bytes(content)
    with pytest.raises(WeightsFileError, match=needle):
        read_state_dict(path)
    bad = tmp_path / "w.safetensors"
    bad.write_bytes(b"\x00" * 16)
    with pytest.raises(WeightsFileError, match="not a readable safetensors file"):
        read_state_dict(bad)


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(WeightsFileError, match="no such weights file"):
        read_state_dict(tmp_path / "nope.pt")
    other = tmp_path / "w.onnx"
    other.write_bytes(b"x")
    with pytest.raises(WeightsFileError, match="unknown weights format '.onnx'"):
        read_state_dict(other)
