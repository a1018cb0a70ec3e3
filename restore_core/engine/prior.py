"""An unconditional diffusion prior (a published network and its noise schedule) as a sampling-plan model.

Zero-shot restoration (DDNM, ILVR, DPS, CCDF, R2D2+) needs no conditional
network: an unconditional denoiser ``eps(x_t, t)`` trained on clean data is
steered by the measurement alone, through the plan's start and consistency
steps.  :class:`UnconditionalPrior` gives such a network the interface
:func:`restore_core.engine.plan.run_plan` expects of a model: it ignores the
condition (up(LR) only serves the truncated and noisy-input starts), works in
pixel space, and drops the learned-variance channels of iDDPM/ADM networks
(``learn_sigma``: the output holds [eps, v]; Nichol & Dhariwal 2021, eq. 15) so
that every sampler and consistency step sees eps.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from restore_core.diffusion.schedules import make_schedule
from restore_core.errors import ConfigError
from restore_core.diffusion.spaces import PixelSpace
from restore_core.engine.sampling import Condition
from restore_core.engine.sr_model import upsample

#: How a prior's ``diffusion`` mapping names its parameterisation.
PREDICTIONS = {"eps": "epsilon", "epsilon": "epsilon", "x0": "sample", "sample": "sample", "v": "v_prediction", "v_prediction": "v_prediction"}


def schedule_settings(diffusion: Mapping[str, Any]) -> dict[str, Any]:
    """``diffusion`` with guided-diffusion's script names read as ours: ``noise_schedule`` -> ``beta_schedule``,
    ``diffusion_steps`` (DifFace: ``steps``) -> ``timesteps``, ``predict_xstart: true`` -> ``prediction: x0`` (published catalogues use them)."""
    settings = dict(diffusion)
    if "noise_schedule" in settings:
        settings.setdefault("beta_schedule", settings.pop("noise_schedule"))
    for name in ("diffusion_steps", "steps"):  # guided-diffusion's and DifFace's names
        if name in settings:
            settings.setdefault("timesteps", int(settings.pop(name)))
    if "predict_xstart" in settings:
        settings.setdefault("prediction", "x0" if settings.pop("predict_xstart") else "eps")
    return settings


class UnconditionalPrior(nn.Module):
    """``network(x, t)`` of ``channels`` image channels with the schedule of ``diffusion``.

    ``diffusion``: ``beta_schedule`` (linear | cosine | scaled_linear), ``timesteps``,
    ``learn_sigma`` (the network outputs 2C channels), ``prediction`` (eps | x0 | v).
    """

    process = "gaussian"
    wavelet = False

    def __init__(self, network: nn.Module, diffusion: Mapping[str, Any], channels: int, spatial_dims: int = 2) -> None:
        super().__init__()
        self.network = network
        self.channels = int(channels)
        self.target_channels = self.channels
        self.spatial_dims = spatial_dims
        self.space = PixelSpace()
        diffusion = schedule_settings(diffusion)
        self.learn_sigma = bool(diffusion.get("learn_sigma", False))
        prediction = str(diffusion.get("prediction", "eps"))
        if prediction not in PREDICTIONS:
            raise ValueError(f"unknown prior prediction '{prediction}'; known: {', '.join(sorted(PREDICTIONS))}")
        self.prediction_type = PREDICTIONS[prediction]
        steps, name = int(diffusion.get("timesteps", 1000)), str(diffusion.get("beta_schedule", "linear"))
        if name == "linear":  # guided-diffusion scales its linear betas by 1000/T (1e-4..0.02 at T = 1000)
            self.schedule = make_schedule(name, steps, beta_start=1e-4 * 1000 / steps, beta_end=0.02 * 1000 / steps)
        else:
            self.schedule = make_schedule(name, steps)
        # improved-diffusion's rescale_timesteps: the network saw t * 1000 / T
        self.timestep_scale = 1000.0 / steps if bool(diffusion.get("rescale_timesteps", False)) else 1.0

    def condition(self, lr: torch.Tensor, hr_size: tuple[int, ...]) -> Condition:
        """up(LR) for the starts that need an initial estimate; the network itself sees no condition."""
        return Condition({"up_lr": upsample(lr, hr_size) if tuple(lr.shape[2:]) != tuple(hr_size) else lr})

    def target_grid(self, hr_size: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(hr_size)

    def to_target(self, hr: torch.Tensor, cond: Condition) -> torch.Tensor:
        return hr

    def from_target(self, target: torch.Tensor, cond: Condition) -> torch.Tensor:
        return target

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, cond: Condition | None) -> torch.Tensor:
        """eps (or x0, v); with ``learn_sigma`` the variance values are kept in ``last_variance_values``
        for the iDDPM sampler (``sampler.name: iddpm``)."""
        return self.prediction_part(self.network(x_t, self.network_timesteps(t)))

    def network_timesteps(self, t: torch.Tensor) -> torch.Tensor:
        """The timesteps the network was trained to see for training-chain steps ``t``."""
        return t * self.timestep_scale if self.timestep_scale != 1.0 else t

    def prediction_part(self, output: torch.Tensor) -> torch.Tensor:
        """``output`` without its learned-variance channels (kept in ``last_variance_values``)."""
        if output.shape[1] != self.channels * (2 if self.learn_sigma else 1):
            raise ConfigError(
                f"the prior outputs {output.shape[1]} channels for {self.channels}-channel images; "
                f"its schedule says learn_sigma={self.learn_sigma} (set diffusion.learn_sigma to match)"
            )
        if not self.learn_sigma:
            return output
        self.last_variance_values = output[:, self.channels : 2 * self.channels].detach()
        return output[:, : self.channels]

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: Condition | None = None) -> torch.Tensor:
        return self.denoise(x_t, t, cond)


__all__ = ["UnconditionalPrior", "PREDICTIONS", "schedule_settings"]
