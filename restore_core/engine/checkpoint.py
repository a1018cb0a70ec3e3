"""Checkpoints without pickle: model weights and training state in safetensors.

A model checkpoint is ONE ``.safetensors`` file of named modules (keys
``denoiser.…``, ``ema_denoiser.…``) plus a JSON model card beside it; the card,
minus the file's own SHA-256, is also in the safetensors metadata.

A training state keeps tensors in safetensors and everything else as tagged
JSON in the metadata (int dict keys and tuples survive), so an optimizer
restored from it continues bit-for-bit.
"""

from __future__ import annotations

import json
import random
import subprocess
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from restore_core.atomic import atomic_output, write_text_atomic
from restore_core.errors import InputError
from restore_core.weights import sha256_of_file

CHECKPOINT_FORMAT = "restore-checkpoint/1"
TRAINING_STATE_FORMAT = "restore-training-state/1"
DEFAULT_CHECKPOINT_NAME = "model.safetensors"
DEFAULT_TRAINING_STATE_NAME = "training_state.safetensors"
_TAGS = ("__tensor__", "__tuple__", "__dict__", "__ndarray__")


class CheckpointError(InputError):
    """A checkpoint or training-state file is missing, corrupt or not ours (CLI: one line, exit 2)."""


def _resolve_file(path: str | Path, default_name: str) -> Path:
    """``path`` itself if it names a ``.safetensors`` file, else ``path/default_name``."""
    path = Path(path)
    return path if path.suffix == ".safetensors" else path / default_name


def _cpu_tensors_without_shared_storage(named: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors that share memory (tied or aliased weights): copy repeats."""
    seen_storages: set[int] = set()
    result = {}
    for name, tensor in named.items():
        tensor = tensor.detach().cpu()
        storage = tensor.untyped_storage().data_ptr()
        if storage in seen_storages:
            tensor = tensor.clone()
        seen_storages.add(storage)
        result[name] = tensor.contiguous()
    return result


def _read_safetensors(file: Path, device: str | torch.device) -> tuple[dict[str, Any], dict[str, str]]:
    from safetensors import SafetensorError, safe_open

    if not file.is_file():
        raise CheckpointError(file, "checkpoint file not found")
    try:
        with safe_open(str(file), framework="pt", device=str(device)) as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, RuntimeError) as err:
        raise CheckpointError(file, f"corrupt or not a safetensors file ({err})") from err
    return tensors, metadata


def _git_revision() -> dict[str, Any]:
    """Commit and dirty flag of the source checkout restore_core runs from, if it is one."""
    source_root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=source_root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        # An installed package may sit inside some unrelated repository: only trust our own.
        if Path(git("rev-parse", "--show-toplevel")).resolve() != source_root:
            return {"git_commit": None, "git_dirty": None}
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        return {"git_commit": git("rev-parse", "HEAD"), "git_dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}


def _plain_json(value: Any, where: str = "card") -> Any:
    """Convert a card to JSON-native values (resolves OmegaConf configs, NumPy scalars, paths)."""
    if type(value).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        value = OmegaConf.to_container(value, resolve=True)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(key): _plain_json(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_json(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, (np.generic, np.ndarray, torch.Tensor)):
        return _plain_json(value.tolist(), where)
    if isinstance(value, (Path, datetime)):
        return str(value)
    raise TypeError(f"{where} has a {type(value).__name__}, which a JSON model card cannot hold")


def _complete_card(card: Mapping[str, Any] | None, flat: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    from restore_core import __version__

    full: dict[str, Any] = _plain_json(dict(card or {}))
    full.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    full["format"] = CHECKPOINT_FORMAT
    full["code_version"] = {"restore_core": __version__, **_git_revision()}
    elements_per_module: Counter[str] = Counter()
    for key, tensor in flat.items():
        elements_per_module[key.partition(".")[0]] += tensor.numel()
    full["module_elements"] = dict(elements_per_module)  # parameters + buffers, for a quick sanity check
    return full


def save_checkpoint(
    path: str | Path,
    model_state: Mapping[str, Mapping[str, torch.Tensor]],
    card: Mapping[str, Any] | None = None,
) -> Path:
    """Write named module state dicts to one safetensors file plus ``<name>.json`` card.

    ``path`` is a ``.safetensors`` file or a directory (then ``model.safetensors``
    inside it). ``card`` holds what a reader needs to trust the weights, by
    convention ``config`` (resolved), ``data``, ``steps`` and ``validation``;
    format, code version, creation time and the file's SHA-256 are added.
    Returns the weights file's path.
    """
    file = _resolve_file(path, DEFAULT_CHECKPOINT_NAME)
    named: dict[str, torch.Tensor] = {}
    for module_name, state in model_state.items():
        if not module_name or "." in module_name:
            raise ValueError(f"module names must be non-empty and dot-free, got {module_name!r}")
        for key, tensor in state.items():
            if not isinstance(tensor, torch.Tensor):
                raise TypeError(f"{module_name}.{key} is a {type(tensor).__name__}; only tensors are stored")
            named[f"{module_name}.{key}"] = tensor
    flat = _cpu_tensors_without_shared_storage(named)
    full_card = _complete_card(card, flat)
    metadata = {"format": CHECKPOINT_FORMAT, "card": json.dumps(full_card, separators=(",", ":"))}

    from safetensors.torch import save_file

    with atomic_output(file) as temp:
        save_file(flat, str(temp), metadata=metadata)
    full_card["sha256"] = sha256_of_file(file)
    write_text_atomic(file.with_suffix(".json"), json.dumps(full_card, indent=2) + "\n")
    return file


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu", verify: bool = True
) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`: ``({module: state_dict}, card)``.

    If the JSON card beside the file records a SHA-256 and ``verify`` is true,
    the file must match it. Without the JSON file the card comes from the
    safetensors metadata.
    """
    file = _resolve_file(path, DEFAULT_CHECKPOINT_NAME)
    card_file = file.with_suffix(".json")
    card: dict[str, Any] | None = None
    if card_file.is_file():
        try:
            card = json.loads(card_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise CheckpointError(card_file, f"model card is not valid JSON ({err})") from err
    if card is not None and verify and file.is_file() and card.get("sha256"):
        actual = sha256_of_file(file)
        if actual != card["sha256"]:
            raise CheckpointError(
                file,
                f"corrupt or was modified: its sha256 is {actual} "
                f"but {card_file.name} records {card['sha256']}",
            )
    flat, metadata = _read_safetensors(file, device)
    if card is None:
        card = json.loads(metadata.get("card", "{}"))
    modules: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in flat.items():
        module_name, _, param = key.partition(".")
        modules.setdefault(module_name, {})[param] = tensor
    return modules, card


def _encode(value: Any, tensors: dict[str, torch.Tensor], where: str) -> Any:
    """Tagged JSON for ``value``; tensors move to ``tensors`` under a path-like key."""
    if isinstance(value, torch.Tensor):
        key = where if where not in tensors else f"{where}#{len(tensors)}"
        tensors[key] = value
        return {"__tensor__": key}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.ravel().tolist(), "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(item, tensors, f"{where}/{i}") for i, item in enumerate(value)]}
    if isinstance(value, list):
        return [_encode(item, tensors, f"{where}/{i}") for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        if all(isinstance(key, str) and key not in _TAGS for key in value):
            return {key: _encode(item, tensors, f"{where}/{key}") for key, item in value.items()}
        pairs = [[_encode(k, tensors, where), _encode(v, tensors, f"{where}/{k}")] for k, v in value.items()]
        return {"__dict__": pairs}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"training state at {where or '/'} has a {type(value).__name__}, which cannot be stored")


def _decode(value: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_decode(item, tensors) for item in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        return tensors[value["__tensor__"]]
    if "__ndarray__" in value:
        return np.array(value["__ndarray__"], dtype=np.dtype(value["dtype"])).reshape(value["shape"])
    if "__tuple__" in value:
        return tuple(_decode(item, tensors) for item in value["__tuple__"])
    if "__dict__" in value:
        return {_decode(k, tensors): _decode(v, tensors) for k, v in value["__dict__"]}
    return {key: _decode(item, tensors) for key, item in value.items()}


@dataclass
class TrainingState:
    """What resuming needs besides the model weights."""

    step: int
    optimizer_state: dict[str, Any]
    scheduler_state: dict[str, Any] | None = None
    rng_state: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None


def save_training_state(
    path: str | Path,
    optimizer_state: Mapping[str, Any],
    step: int,
    rng_state: Mapping[str, Any] | None = None,
    scheduler_state: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write optimizer/scheduler state dicts, step, RNG state and ``extra`` without pickle.

    ``path`` is a ``.safetensors`` file or a directory (then
    ``training_state.safetensors``). Returns the file's path.
    """
    file = _resolve_file(path, DEFAULT_TRAINING_STATE_NAME)
    tree = {"step": int(step), "optimizer": optimizer_state, "scheduler": scheduler_state}
    tensors: dict[str, torch.Tensor] = {}
    encoded = _encode({**tree, "rng": rng_state, "extra": extra}, tensors, "")
    metadata = {"format": TRAINING_STATE_FORMAT, "state": json.dumps(encoded, separators=(",", ":"))}

    from safetensors.torch import save_file

    flat = _cpu_tensors_without_shared_storage(tensors)
    with atomic_output(file) as temp:
        save_file(flat, str(temp), metadata=metadata)
    return file


def load_training_state(
    path: str | Path,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
) -> TrainingState:
    """Read :func:`save_training_state` output; load it into ``optimizer``/``scheduler`` if given.

    RNG state is returned, not applied: call :func:`restore_rng_state` when ready.
    """
    file = _resolve_file(path, DEFAULT_TRAINING_STATE_NAME)
    tensors, metadata = _read_safetensors(file, "cpu")
    if metadata.get("format") != TRAINING_STATE_FORMAT or "state" not in metadata:
        raise CheckpointError(file, f"not a restore training state (format {metadata.get('format')!r})")
    tree = _decode(json.loads(metadata["state"]), tensors)
    state = TrainingState(tree["step"], tree["optimizer"], tree["scheduler"], tree["rng"], tree["extra"])
    if optimizer is not None:
        optimizer.load_state_dict(state.optimizer_state)
    if scheduler is not None and state.scheduler_state is not None:
        scheduler.load_state_dict(state.scheduler_state)
    return state


def capture_rng_state() -> dict[str, Any]:
    """Current torch (CPU and CUDA), NumPy global and Python ``random`` generator states."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Apply a state from :func:`capture_rng_state` (CUDA part only if CUDA is present)."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
