"""Load a method's checkpoint and check the run's config against it: the public helper every method uses.

A checkpoint's card stores the resolved config it was trained with; the
network is rebuilt from *that* config (so a run's ``model.*`` settings can
never silently build a different network around the weights), the weights
are loaded, and when the run's ``model.*``/``diffusion.*`` differ from the
stored ones one warning line says which (once per checkpoint).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from omegaconf import DictConfig, OmegaConf

from restore_core.engine.checkpoint import load_checkpoint
from restore_core.errors import UsageError

#: Model keys that choose how a network runs, not which network it is.
RUNTIME_MODEL_KEYS = ("model.checkpoint", "model.any_scale")

BuildModel = Callable[[DictConfig, int, Any], torch.nn.Module]
"""``build(cfg, channels, networks) -> nn.Module``: a method's network from a resolved config,
its parts looked up by name in the registry ``networks``."""


def plain(cfg: Any) -> Any:
    """A DictConfig section as plain Python containers (for constructors and model cards)."""
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg


def _flat(section: Any, prefix: str) -> dict[str, Any]:
    if not isinstance(section, dict):
        return {prefix: section}
    flat: dict[str, Any] = {}
    for key, value in section.items():
        flat.update(_flat(value, f"{prefix}.{key}"))
    return flat


def architecture_differences(cfg: DictConfig, stored: DictConfig) -> list[str]:
    """Dotted ``model.*``/``diffusion.*`` keys whose value differs from the checkpoint's stored config."""
    ours = {**_flat(plain(cfg.get("model")), "model"), **_flat(plain(cfg.get("diffusion")), "diffusion")}
    theirs = {**_flat(plain(stored.get("model")), "model"), **_flat(plain(stored.get("diffusion")), "diffusion")}
    keys = sorted(k for k in set(ours) | set(theirs) if k not in RUNTIME_MODEL_KEYS)
    return [k for k in keys if ours.get(k) != theirs.get(k)]


@dataclass(frozen=True)
class LoadedModel:
    """A network in eval mode, the config it was built from, its card and its file."""

    model: Any
    config: DictConfig
    card: dict[str, Any]
    path: Path

    def trained_scales(self, cfg: DictConfig) -> list[float]:
        """The scales the checkpoint was trained on (its stored ``train.scales``; else the run's)."""
        train = self.config.get("train") or cfg.get("train") or {}
        return [float(s) for s in train.get("scales", [cfg.get("scale")])]


@dataclass
class CheckpointLoader:
    """Finds, loads (once per file and device) and checks a method's checkpoints.

    ``checkpoint_dir`` holds the shipped ``<name>.safetensors`` files;
    ``build(cfg, channels, networks)`` makes the method's network.
    """

    checkpoint_dir: Path
    build: BuildModel
    _cache: dict[tuple[str, str], LoadedModel] = field(default_factory=dict, repr=False)
    _warned: set[str] = field(default_factory=set, repr=False)

    def resolve(self, name: str, key: str = "model.checkpoint") -> Path:
        """A shipped checkpoint's name (``<checkpoint_dir>/<name>.safetensors``) or a path, as an existing file."""
        path = Path(str(name)).expanduser()
        if not path.is_absolute() and not path.exists():
            path = Path(self.checkpoint_dir) / path
        if path.suffix != ".safetensors":
            path = path.with_suffix(".safetensors")
        if not path.is_file():
            raise UsageError(f"{path}: checkpoint not found (train one with 'restore train' or set {key})")
        return path

    def path_for(self, cfg: DictConfig) -> Path:
        """The file ``model.checkpoint`` names."""
        name = (cfg.get("model") or {}).get("checkpoint")
        if not name:
            raise UsageError(f"method '{cfg.get('method')}' has no checkpoint configured (model.checkpoint)")
        return self.resolve(str(name))

    def load(self, cfg: DictConfig, channels: int, device: str, networks: Any = None) -> LoadedModel:
        """Build the network from the checkpoint's stored config (else ``cfg``) and load its weights."""
        path = self.path_for(cfg)
        key = (str(path), str(device))
        if key not in self._cache:
            modules, card = load_checkpoint(path, device=device)
            stored = OmegaConf.create(card.get("config", {}))
            model_cfg = stored if "model" in stored else cfg
            model = self.build(model_cfg, int(card.get("channels", channels)), networks)
            model.load_state_dict(modules["model"])
            self._cache[key] = LoadedModel(model.to(device).eval(), model_cfg, dict(card), path)
        return self._cache[key]

    def load_for_run(self, cfg: DictConfig, channels: int, context: Any, networks: Any = None) -> LoadedModel:
        """:meth:`load` on ``context.device`` (networks from ``networks``, else ``context.registry``), then
        one warning line (once per file) when the run's ``model.*``/``diffusion.*`` differ from the checkpoint's."""
        loaded = self.load(cfg, channels, context.device, networks if networks is not None else context.registry)
        if loaded.config is not cfg and str(loaded.path) not in self._warned:
            self._warned.add(str(loaded.path))
            differing = architecture_differences(cfg, loaded.config)
            if differing:
                shown = ", ".join(differing[:4]) + (f" (+{len(differing) - 4} more)" if len(differing) > 4 else "")
                context.log(f"restore: warning: {shown} differ from the checkpoint's stored config; the checkpoint's architecture is used")
        return loaded


__all__ = ["CheckpointLoader", "LoadedModel", "architecture_differences", "plain", "RUNTIME_MODEL_KEYS"]
