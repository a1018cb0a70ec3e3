"""The method seam: what a registered method is (typed protocols) and how a diffusion method is composed.

Every method a plugin registers (``register_methods(register)``, ``factory()``)
is a :class:`Method`; one that restores files larger than memory is also a
:class:`StreamingMethod`; one that ``restore train`` can train is a
:class:`TrainableMethod`.  The core calls nothing else.

A diffusion method is then small, because everything it shares with the others
exists once in the core and it *composes* those parts (values of one run travel
as arguments, never as attributes set between calls):

* its networks by registry name (``model.denoiser.name``, ``model.encoder.name``;
  ``register_denoisers`` / ``register_conditioning``), loaded and checked by a
  :class:`~restore_core.engine.loading.CheckpointLoader`;
* its :class:`~restore_core.engine.plan.SamplingPlan`, resolved once per run from
  the config, run per window by :func:`~restore_core.engine.plan.run_plan` with
  the measurement operator it supplies;
* one of the windowing back-ends of :mod:`restore_core.engine.windows`;
* its training parts (:class:`~restore_core.engine.method_training.TrainingParts`),
  run by :func:`~restore_core.engine.method_training.train_method`.

:class:`~restore_core.engine.sr_method.DiffusionMethod` bundles the defaults of
these parts; a plugin's method overrides only what is its own.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from restore_core.context import RunContext
from restore_core.sample import Sample


@runtime_checkable
class Method(Protocol):
    """Restores one in-memory sample: ``restore(sample, cfg, context) -> Sample`` (geometry updated by ``Sample.resampled``)."""

    def restore(self, sample: Sample, cfg: Any, context: RunContext) -> Sample: ...


@runtime_checkable
class StreamingMethod(Protocol):
    """Restores a file too large for memory: reads ``source`` window by window and writes ``target``
    (a temporary path the core renames on success)."""

    def restore_file(self, source: Path, target: Path, cfg: Any, context: RunContext) -> None: ...


@runtime_checkable
class TrainableMethod(Protocol):
    """Trains on HR files in ``data`` and returns the written checkpoint."""

    def train(self, cfg: Any, context: RunContext, *, data: Any, output_dir: Any = None, max_steps: int | None = None) -> Path: ...


__all__ = ["Method", "StreamingMethod", "TrainableMethod"]
