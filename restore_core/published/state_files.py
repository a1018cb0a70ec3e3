"""Read a published checkpoint file into a state dict, safely, and fit it to an architecture.

Formats: ``.safetensors``, and the pickled ``.pt`` / ``.pth`` / ``.ckpt`` /
``.bin`` files the papers publish, read with ``torch.load(weights_only=True)``:
only tensors and plain containers are unpickled, so a file that would run code
is refused, never executed.  Published files wrap their weights in different
ways; :func:`read_state_dict` unwraps the nested ``state_dict`` / ``model`` /
``ema`` / ``params`` entries and strips the ``module.`` (DataParallel / DDP) and
``_orig_mod.`` (``torch.compile``) prefixes.  :func:`load_into` then loads with
``strict=True`` and turns any misfit into ONE readable line listing missing,
unexpected and mis-shaped keys.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Mapping

import torch

from restore_core.errors import InputError

PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")
#: Wrapper keys of published checkpoints, tried in this order (``ema`` before ``model``: the EMA weights
#: where a file holds both; ``wrapper=`` picks another).
WRAPPER_KEYS = ("state_dict", "ema", "model_ema", "ema_model", "model", "params_ema", "params", "net", "module", "model_state_dict")
PREFIXES = ("module.", "_orig_mod.")
_SHOWN = 4


class WeightsFileError(InputError):
    """A weights file is unreadable, unsafe, or does not fit the architecture (exit 2, one line)."""


def read_state_dict(path: str | Path, wrapper: str | None = None) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, unwrapped and with training prefixes stripped.

    ``wrapper`` names the entry holding the weights when a file holds several
    (``ema`` vs ``model``); by default the first of :data:`WRAPPER_KEYS` present.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsFileError(path, "no such weights file")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            loaded: Any = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise WeightsFileError(path, f"not a readable safetensors file ({' '.join(str(exc).split())})") from None
    elif suffix in PICKLE_SUFFIXES:
        loaded = _torch_load(path)
    else:
        raise WeightsFileError(path, f"unknown weights format '{suffix or '(none)'}'; expected .safetensors or {', '.join(PICKLE_SUFFIXES)}")
    return strip_prefixes(unwrap(loaded, path, wrapper))


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc).split("Check the documentation")[0]
        reason = " ".join(text.split("WeightsUnpickler error:")[-1].split())[:160]
        raise WeightsFileError(
            path, f"refused by the weights-only unpickler ({reason}): the file is corrupt or holds more than tensors "
            "and plain containers, and is never unpickled with code execution"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise WeightsFileError(path, f"not a readable PyTorch checkpoint ({' '.join(str(exc).split())[:200]})") from None


def unwrap(loaded: Any, path: Path, wrapper: str | None = None) -> dict[str, torch.Tensor]:
    """Descend into the wrapper entries until a mapping of tensors is left."""
    node = loaded
    for _ in range(4):
        if not isinstance(node, Mapping):
            break
        if wrapper is not None and wrapper in node:
            node, wrapper = node[wrapper], None
            continue
        if node and all(isinstance(v, torch.Tensor) for v in node.values()):
            return dict(node)
        inner = next((node[k] for k in WRAPPER_KEYS if isinstance(node.get(k), Mapping)), None)
        if inner is None:
            break
        node = inner
    if isinstance(node, Mapping):
        tensors = {k: v for k, v in node.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise WeightsFileError(path, "holds no state dict of tensors (looked under " + ", ".join(WRAPPER_KEYS) + ")")


def strip_prefixes(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys without the ``module.`` / ``_orig_mod.`` prefixes that training wrappers add."""
    out = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix):], True
        out[key] = value
    return out


def misfit(module: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> str | None:
    """One line naming missing, unexpected and mis-shaped keys, or None when ``state`` fits ``module`` exactly."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shaped = [f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}" for k in expected if k in state and state[k].shape != expected[k].shape]
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped (file vs model)", shaped)):
        if keys:
            more = f" (+{len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else ""
            parts.append(f"{len(keys)} {label}: {', '.join(keys[:_SHOWN])}{more}")
    return "; ".join(parts) or None


def load_into(module: torch.nn.Module, path: str | Path, wrapper: str | None = None, what: str = "this architecture") -> torch.nn.Module:
    """Load the weights file ``path`` into ``module`` (strict), or raise one line naming the misfit."""
    state = read_state_dict(path, wrapper)
    problem = misfit(module, state)
    if problem:
        raise WeightsFileError(path, f"does not fit {what}: {problem}")
    expected = module.state_dict()
    module.load_state_dict({k: v.to(expected[k].dtype) if v.is_floating_point() else v for k, v in state.items()}, strict=True)
    return module


__all__ = ["WeightsFileError", "read_state_dict", "unwrap", "strip_prefixes", "misfit", "load_into"]
