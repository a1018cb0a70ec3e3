"""One sampler contract for every reverse process.

Modelled on diffusers' scheduler contract (``set_timesteps``, ``timesteps``,
``step`` returning the previous sample and the x0 estimate), with ONE ``step``
signature for every sampler so the sampling loop never asks which one it has.
MONAI's schedulers are not wrapped: their ``step`` signatures differ per
sampler, they fix respacing to their own grid and cannot start a truncated
chain at an arbitrary t_start.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, NamedTuple

import torch

from ..parameterization import PREDICTION_TYPES, predict_x0_and_eps
from ..schedules import NoiseSchedule, respaced_timesteps

__all__ = ["StepOutput", "Sampler", "GaussianSampler", "gaussian_noise"]


class StepOutput(NamedTuple):
    """x_{t_prev} and the x0 estimate the step used."""

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


def gaussian_noise(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal noise shaped like ``like`` drawn from ``generator``."""
    return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)


class Sampler(ABC):
    """A reverse process walked along descending ``timesteps`` down to t = -1 (clean data).

    ``schedule`` needs only ``num_train_timesteps``; subclasses read the rest.
    """

    def __init__(
        self,
        schedule: Any,
        prediction_type: str = "epsilon",
        clip_sample: float | None = None,
        timestep_spacing: str = "trailing",
    ) -> None:
        if clip_sample is not None and clip_sample <= 0:
            raise ValueError(f"clip_sample must be positive or None, got {clip_sample}")
        self.schedule = schedule
        self.prediction_type = prediction_type
        self.clip_sample = clip_sample
        self.timestep_spacing = timestep_spacing
        self.set_timesteps(schedule.num_train_timesteps)

    def set_timesteps(
        self, num_inference_steps: int, device: torch.device | str | None = None, t_start: int | None = None
    ) -> None:
        """Choose the inference chain (see :func:`respaced_timesteps`) and clear history."""
        ts = respaced_timesteps(self.schedule.num_train_timesteps, num_inference_steps, self.timestep_spacing, t_start)
        self.timesteps: torch.Tensor = ts.to(device) if device is not None else ts
        chain = [int(t) for t in ts]
        self._chain = chain
        self._prev = dict(zip(chain, chain[1:] + [-1]))
        self._index = {t: i for i, t in enumerate(chain)}
        self.reset()

    def prev_timestep(self, timestep: int) -> int:
        """The next timestep down the chain; -1 after the last one."""
        try:
            return self._prev[int(timestep)]
        except KeyError:
            raise ValueError(f"timestep {int(timestep)} is not on the inference chain") from None

    def reset(self) -> None:
        """Forget multistep history (no-op for one-step samplers)."""

    @abstractmethod
    def step(
        self,
        model_output: torch.Tensor,
        timestep: int,
        sample: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> StepOutput:
        """Move ``sample`` from ``timestep`` to ``prev_timestep(timestep)``."""

    def _clip(self, x0: torch.Tensor) -> torch.Tensor:
        return x0 if self.clip_sample is None else x0.clamp(-self.clip_sample, self.clip_sample)


class GaussianSampler(Sampler):
    """Shared parts of samplers for the variance-preserving process of a :class:`NoiseSchedule`."""

    schedule: NoiseSchedule

    def __init__(
        self,
        schedule: NoiseSchedule,
        prediction_type: str = "epsilon",
        clip_sample: float | None = None,
        timestep_spacing: str = "trailing",
    ) -> None:
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"unknown prediction_type {prediction_type!r}; choose from {PREDICTION_TYPES}")
        super().__init__(schedule, prediction_type, clip_sample, timestep_spacing)

    def _alpha_bars(self, timestep: int) -> tuple[float, float]:
        """(alpha_bar_t, alpha_bar_prev) on the inference chain; alpha_bar(-1) = 1."""
        prev = self.prev_timestep(timestep)
        ab = self.schedule.alpha_bar(torch.tensor([int(timestep), prev]))
        return float(ab[0]), float(ab[1])

    def _x0_and_eps(
        self, model_output: torch.Tensor, alpha_bar: float, sample: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x0 and eps from the model; with clipping, eps is re-derived from the clipped x0."""
        x0, eps = predict_x0_and_eps(model_output, sample, alpha_bar, self.prediction_type)
        if self.clip_sample is not None:
            x0 = self._clip(x0)
            eps = (sample - alpha_bar**0.5 * x0) / (1.0 - alpha_bar) ** 0.5
        return x0, eps
