"""Training pairs synthesised from HR data: random patches, flips, a degradation model.

A degradation returns the LR tensor, or a mapping with ``"lr"``, optionally
``"hr"`` (the training target, when the patch carries more than the target,
e.g. a reference contrast in extra channels) and any further tensors, which
reach the loss as the batch's ``extras`` dict.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch

from restore_core.degradations import Degrade

Difficulty = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def split_degraded(hr: torch.Tensor, degraded: Any) -> tuple:
    """``(lr, hr)`` or ``(lr, hr, extras)`` from a degradation's result (see the module docstring)."""
    if isinstance(degraded, torch.Tensor):
        return degraded, hr
    if not isinstance(degraded, Mapping) or "lr" not in degraded:
        raise TypeError("a degradation must return the LR tensor or a mapping with an 'lr' entry")
    extras = {k: v for k, v in degraded.items() if k not in ("lr", "hr")}
    target = degraded.get("hr", hr)
    return (degraded["lr"], target, extras) if extras else (degraded["lr"], target)


class TrainingDataError(ValueError):
    """The training images cannot make patches (none, or smaller than the patch); the caller names the data."""


class PatchPairs:
    """An endless stream of ``(lr, hr)`` batches, reproducible from ``seed``.

    Each batch draws one scale from ``degradations`` (so one model can learn
    several factors), then per sample a random image, a random patch whose
    size is a multiple of the scale, and a random flip/transpose (2D) or flip
    (3D).  LR comes from the plugin's degradation model for that scale.
    """

    def __init__(
        self,
        images: Sequence[torch.Tensor],
        patch: int,
        batch_size: int,
        degradations: Mapping[int, Degrade],
        seed: int = 0,
    ) -> None:
        if not images:
            raise TrainingDataError("holds no training images")
        for scale in degradations:
            if patch % scale:
                raise ValueError(f"patch size {patch} is not a multiple of scale {scale}")
        small = [tuple(int(s) for s in im.shape[1:]) for im in images if min(im.shape[1:]) < patch]
        if small:
            raise TrainingDataError(
                f"{len(small)} of {len(images)} training images are smaller than the patch size {patch} "
                f"(sizes {', '.join('x'.join(map(str, s)) for s in small[:3])}); use larger images or a smaller train.patch"
            )
        self.images = list(images)
        self.patch = patch
        self.batch_size = batch_size
        self.degradations = dict(degradations)
        self.scales = sorted(self.degradations)
        self.generator = torch.Generator().manual_seed(seed)

    def state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)

    def _randint(self, high: int) -> int:
        return int(torch.randint(0, high, (1,), generator=self.generator))

    def _patch(self) -> torch.Tensor:
        image = self.images[self._randint(len(self.images))]
        corner = [self._randint(size - self.patch + 1) for size in image.shape[1:]]
        window = image[(slice(None), *(slice(c, c + self.patch) for c in corner))]
        spatial = list(range(1, window.ndim))
        flips = [d for d in spatial if self._randint(2)]
        if flips:
            window = window.flip(flips)
        if len(spatial) == 2 and self._randint(2):
            window = window.transpose(1, 2)
        return window

    def __iter__(self) -> Iterator[tuple]:
        while True:
            scale = self.scales[self._randint(len(self.scales))]
            hr = torch.stack([self._patch() for _ in range(self.batch_size)]).float()
            yield split_degraded(hr, self.degradations[scale](hr, self.generator))


def competence(step: int, start_fraction: float, ramp_steps: int) -> float:
    """The fraction of the difficulty-sorted pool a batch may draw from at ``step``.

    Square-root competence of Platanios et al. 2019 (eq. 7): grows from
    ``start_fraction`` to 1 over ``ramp_steps``, fast at first, then slower.
    """
    if ramp_steps <= 0:
        return 1.0
    c0 = float(start_fraction)
    return min(1.0, math.sqrt(step * (1.0 - c0 * c0) / ramp_steps + c0 * c0))


class CurriculumPairs(PatchPairs):
    """Patch pairs served from easy to hard (curriculum learning, Bengio et al. 2009).

    Each batch degrades a pool of ``pool_factor * batch_size`` candidate
    patches, ranks them by ``difficulty(lr, hr)`` (one number per patch, e.g.
    how much detail the degradation removed) and draws the batch at random
    from the easiest ``competence(step)`` fraction of the pool, so training
    starts on easy patches and sees the whole distribution once
    ``ramp_steps`` have passed.  The training loop reports the step through
    :meth:`set_step`.
    """

    def __init__(
        self,
        images: Sequence[torch.Tensor],
        patch: int,
        batch_size: int,
        degradations: Mapping[int, Degrade],
        difficulty: Difficulty,
        seed: int = 0,
        pool_factor: int = 4,
        start_fraction: float = 0.25,
        ramp_steps: int = 1000,
    ) -> None:
        super().__init__(images, patch, batch_size, degradations, seed)
        if pool_factor < 1 or not 0.0 < start_fraction <= 1.0:
            raise ValueError("curriculum needs pool_factor >= 1 and 0 < start_fraction <= 1")
        self.difficulty = difficulty
        self.pool_factor = int(pool_factor)
        self.start_fraction = float(start_fraction)
        self.ramp_steps = int(ramp_steps)
        self.step = 0

    def set_step(self, step: int) -> None:
        self.step = int(step)

    def __iter__(self) -> Iterator[tuple]:
        pool_size = self.batch_size * self.pool_factor
        while True:
            scale = self.scales[self._randint(len(self.scales))]
            hr = torch.stack([self._patch() for _ in range(pool_size)]).float()
            batch = split_degraded(hr, self.degradations[scale](hr, self.generator))
            scores = self.difficulty(batch[0], batch[1]).reshape(pool_size)
            allowed = max(self.batch_size, math.ceil(competence(self.step, self.start_fraction, self.ramp_steps) * pool_size))
            easiest = torch.argsort(scores, stable=True)[:allowed]
            chosen = easiest[torch.randperm(allowed, generator=self.generator)[: self.batch_size]]
            picked = [b[chosen] for b in batch[:2]]
            if len(batch) > 2:
                picked.append({k: v[chosen] for k, v in batch[2].items()})
            yield tuple(picked)
