"""Reading the facts the reference implementations left in tests/published: manifests and fixtures."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open

HERE = Path(__file__).resolve().parent


def manifest(arch: str, name: str) -> dict:
    """``manifests/<arch>-<name>.json``: every key/shape/dtype of a full published configuration, and its config."""
    return json.loads((HERE / "manifests" / f"{arch}-{name}.json").read_text())


def fixture(arch: str, name: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """``fixtures/<arch>-<name>.safetensors``: (metadata, tensors) of a small reference-made fixture."""
    with safe_open(str(HERE / "fixtures" / f"{arch}-{name}.safetensors"), "pt") as handle:
        return handle.metadata(), {key: handle.get_tensor(key) for key in handle.keys()}


def section(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors under ``prefix`` (``state_dict.``, ``input.``, ``output.``), the prefix removed."""
    return {key[len(prefix):]: value for key, value in tensors.items() if key.startswith(prefix)}


def layout(model: torch.nn.Module) -> list:
    """``[key, shape, dtype]`` of every state-dict entry, in order, as the manifests store them."""
    return [[key, list(value.shape), str(value.dtype).replace("torch.", "")] for key, value in model.state_dict().items()]
