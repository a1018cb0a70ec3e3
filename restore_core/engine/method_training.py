"""``restore train`` for any diffusion method: read data, synthesise pairs, build, fine-tune, train.

A method hands :func:`train_method` an object with the parts that are its
own (the :class:`TrainingParts` protocol); everything else, the order of the
steps, fine-tuning from ``train.init``, freezing ``train.trainable``, one-line
errors naming the data folder, is here, once.  Methods compose this function
rather than inherit a training base class.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

import torch
from omegaconf import DictConfig, OmegaConf

from restore_core.context import RunContext
from restore_core.engine.checkpoint import load_checkpoint
from restore_core.engine.loading import CheckpointLoader, architecture_differences, plain
from restore_core.engine.pairs import Degrade
from restore_core.errors import ConfigError, InputError, RestoreError, UsageError


class TrainingParts(Protocol):
    """What a trainable diffusion method supplies (see :class:`~restore_core.engine.sr_method.DiffusionMethod`
    for the defaults every part has)."""

    checkpoints: CheckpointLoader

    def registry(self, context: RunContext) -> Any: ...

    def training_images(self, data: Path, cfg: DictConfig, context: RunContext) -> Sequence[torch.Tensor]: ...

    def degradation(self, cfg: DictConfig, scale: int, context: RunContext) -> Degrade: ...

    def pair_source(self, images: Sequence[torch.Tensor], cfg: DictConfig, degradations: Mapping[int, Degrade]) -> Any: ...

    def build_model(self, cfg: DictConfig, channels: int, networks: Any = None) -> torch.nn.Module: ...

    def training_loss(self, cfg: DictConfig) -> Any: ...

    def validator(self, cfg: DictConfig, context: RunContext) -> Callable[[torch.nn.Module], Mapping[str, float]] | None: ...

    def model_card(self, cfg: DictConfig, channels: int, data: Path) -> dict[str, Any]: ...


def train_method(
    parts: TrainingParts, cfg: DictConfig, context: RunContext, *, data: Any, output_dir: Any = None, max_steps: int | None = None
) -> Path:
    """Train ``parts``' network on HR files in ``data``; returns the written ``model.safetensors``."""
    from restore_core.engine.pairs import TrainingDataError
    from restore_core.engine.training import TrainSettings, freeze_except, train_model

    if data is None:
        raise UsageError("training needs --data (a folder of high-resolution files)")
    data = Path(data)
    images = read_training_images(parts, data, cfg, context)
    channels = int(images[0].shape[0])
    degradations = {int(s): parts.degradation(cfg, int(s), context) for s in cfg.train.scales}
    try:
        pairs = parts.pair_source(images, cfg, degradations)
    except TrainingDataError as exc:
        raise InputError(data, str(exc)) from None
    except ValueError as exc:
        raise ConfigError(f"train: {exc}") from None
    torch.manual_seed(int(cfg.seed))  # the initial weights are part of what the seed reproduces
    model = parts.build_model(cfg, channels, parts.registry(context))
    out = Path(output_dir) if output_dir else Path("runs") / f"{cfg.plugin}-{cfg.method}"
    settings = TrainSettings.from_config(plain(cfg.train), max_steps)
    card = parts.model_card(cfg, channels, data)
    resuming = (out / "last.safetensors").is_file() and (out / "training_state.safetensors").is_file()
    if cfg.train.get("init"):  # when resuming, the run's own last weights replace the init anyway
        card["init"] = load_checkpoint(out / "last.safetensors")[1].get("init") if resuming else initialise(model, cfg, parts.checkpoints)
    if settings.trainable:
        try:
            freeze_except(model, settings.trainable)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return train_model(model, pairs, settings, out, context, card, parts.validator(cfg, context), parts.training_loss(cfg))


def initialise(model: torch.nn.Module, cfg: DictConfig, checkpoints: CheckpointLoader) -> dict[str, Any]:
    """Load ``train.init`` (a checkpoint name or path) into ``model`` before training: fine-tuning.

    The checkpoint must come from the same network: same ``model.*`` and
    ``diffusion.*`` settings (not only the same tensor shapes: a change of
    prediction target or schedule has none) and the same weights.  Returns
    the init's provenance for the new model card: path, sha256, steps,
    training seconds and its own config.
    """
    path = checkpoints.resolve(str(cfg.train.init), key="train.init")
    modules, init_card = load_checkpoint(path, device="cpu")
    stored = OmegaConf.create(init_card.get("config") or {})
    differences = architecture_differences(cfg, stored) if "model" in stored else []
    if differences:
        theirs = OmegaConf.select(stored, differences[0])
        raise ConfigError(
            f"train.init: {path} was trained with {differences[0]}={theirs!r}, this run has "
            f"{OmegaConf.select(cfg, differences[0])!r} (set it to match, or train from scratch)"
        )
    state = {k: v.float() if v.is_floating_point() else v for k, v in modules["model"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), str(exc))
        raise ConfigError(f"train.init: {path} does not fit this method's network ({first})") from None
    return {
        "path": str(path), "sha256": init_card.get("sha256"), "steps": init_card.get("steps"),
        "train_seconds": init_card.get("train_seconds"), "config": init_card.get("config"),
    }


def read_training_images(parts: TrainingParts, data: Path, cfg: DictConfig, context: RunContext) -> list[torch.Tensor]:
    """The method's ``training_images``; any failure becomes one InputError naming ``data``."""
    if not data.exists():
        raise InputError(data, "no such file or directory")
    try:
        images = list(parts.training_images(data, cfg, context))
    except RestoreError:
        raise
    except Exception as exc:
        raise InputError(data, f"cannot read the training images ({type(exc).__name__}: {' '.join(str(exc).split())})") from None
    if not images:
        raise InputError(data, "holds no training images")
    channels = sorted({int(im.shape[0]) for im in images})
    if len(channels) > 1:
        raise InputError(data, f"training images have different channel counts {channels}")
    return images


def registered_degradation(cfg: DictConfig, scale: int, registry: Any) -> Degrade:
    """``train.degradation`` looked up among the plugin's registered degradations, built for ``scale``
    with ``train.degradation_params``."""
    name = str(cfg.train.get("degradation") or "")
    if registry is None:
        raise ConfigError("training needs the plugin's registry (run through restore train or restore_core.api)")
    entry = registry.get("degradations", name)
    params = dict(plain(cfg.train.get("degradation_params")) or {})
    try:
        return entry.factory(scale=scale, **params)
    except TypeError as exc:
        raise ConfigError(f"train.degradation_params do not fit degradation '{name}': {exc}") from None


__all__ = ["TrainingParts", "train_method", "initialise", "read_training_images", "registered_degradation"]
