"""Training pairs synthesised from HR data: random patches, flips, a degradation model."""
from __future__ import annotations

from typing import Callable, Iterator, Mapping, Sequence

import torch

Degrade = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


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

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            scale = self.scales[self._randint(len(self.scales))]
            hr = torch.stack([self._patch() for _ in range(self.batch_size)]).float()
            lr = self.degradations[scale](hr, self.generator)
            yield lr, hr
