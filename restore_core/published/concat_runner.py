"""Run a published guided-diffusion ``UNetModel`` conditioned by channel concatenation (AT-DDPM) with the plan.

AT-DDPM (Nair, Mei & Patel, WACV 2023; Nithin-GK/AT-DDPM at 87057a4) trains
guided-diffusion's ``UNetModel`` with ``in_channels = 6``: its ``ATDDPM``
forward concatenates the noisy state and the turbulent image,
``th.cat([x_t, high_turb], 1)``, before the first convolution, and the model
outputs ``[eps, v]`` (``learn_sigma``).  Facts the adapter reproduces
(``guided_diffusion/test_diff.py``, ``scripts/AT_test.py``,
``guided_diffusion/script_util.py``):

* **range**: images in [-1, 1] (``(sample + 1) * 127.5`` back to 8 bits): the
  project's model units, so states and conditions pass unchanged;
* **condition**: the first ``in_channels - C`` channels of the method's
  condition (for the turbulence methods the frame to restore; the fused burst
  that the project's own models also see is not an input of the published
  model), on the output grid;
* **schedule**: ``get_named_beta_schedule(noise_schedule, diffusion_steps)``
  (linear betas scaled by 1000/T), epsilon prediction unless ``predict_xstart``;
  ``rescale_timesteps`` feeds the network ``t * 1000 / T``;
* **start**: the reference diffuses the turbulent image to respaced step 60 of
  100 (``q_sample`` at ``num_timesteps - skip_timesteps`` with ``skip_timesteps
  = 40``) and runs ancestral DDPM from there, i.e. ``start.mode=truncated
  start.t0_fraction=0.6 sampler.name=ddpm sampler.steps=100`` here (the
  reference's first denoising step is respaced index 59, one below the step it
  diffused to; the plan starts at the step it diffuses to).

Sizes: the network halves its input ``len(channel_mult) - 1`` times; other
sizes are padded (reflect) to the next multiple and cropped back.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from restore_core.engine.prior import UnconditionalPrior
from restore_core.errors import UsageError
from restore_core.engine.sampling import Condition
from restore_core.engine.sr_model import upsample


class ConcatConditionedPrior(UnconditionalPrior):
    """A network ``f(cat[x_t, image], t)`` with its schedule, as a plan model (module docstring)."""

    def __init__(self, network: nn.Module, diffusion: Mapping[str, Any], channels: int) -> None:
        super().__init__(network, diffusion, channels)
        self.cond_channels = int(network.in_channels) - self.channels
        if self.cond_channels <= 0:
            raise UsageError(
                f"--weights: the network takes {network.in_channels} input channels for {channels}-channel images: it is unconditional "
                "(run it with a zero-shot method: ddnm, ilvr, dps, ccdf)"
            )
        self.multiple = 2 ** (len(getattr(network, "channel_mult", (1,))) - 1)

    def condition(self, lr: torch.Tensor, hr_size: tuple[int, ...]) -> Condition:
        """The first ``cond_channels`` of ``lr`` on the output grid: the network's input and the truncated start's image."""
        if lr.shape[1] < self.cond_channels:
            raise ValueError(f"the published model is conditioned on {self.cond_channels} channels, the method gives {lr.shape[1]}")
        image = lr[:, : self.cond_channels]
        if tuple(image.shape[2:]) != tuple(hr_size):
            image = upsample(image, tuple(hr_size))
        return Condition({"up_lr": image})

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, cond: Condition | None) -> torch.Tensor:
        image = cond.tensors["up_lr"].to(x_t.dtype) if cond is not None else x_t.new_zeros((x_t.shape[0], self.cond_channels, *x_t.shape[2:]))
        height, width = x_t.shape[-2:]
        inputs = torch.cat([x_t, image], dim=1)
        pad_h, pad_w = (-height) % self.multiple, (-width) % self.multiple
        if pad_h or pad_w:
            inputs = F.pad(inputs, (0, pad_w, 0, pad_h), mode="reflect" if min(height, width) > max(pad_h, pad_w) else "replicate")
        timesteps = torch.as_tensor(t, device=x_t.device).reshape(-1).expand(x_t.shape[0])
        output = self.network(inputs, self.network_timesteps(timesteps))[..., :height, :width]
        return self.prediction_part(output)


def load(spec: Mapping[str, Any], path: Path, weights: Any, device: str) -> ConcatConditionedPrior:
    """The runner contract (:mod:`restore_core.published.runners`): the network from ``spec["config"]``, ``path`` loaded strictly."""
    from restore_core.published import build
    from restore_core.published.state_files import load_into

    network = build(str(spec["arch"]), dict(spec["config"]))
    load_into(network, path, wrapper=(spec.get("extra") or {}).get("wrapper"), what="the guided-diffusion UNetModel")
    diffusion = dict(spec.get("diffusion") or {})
    learn_sigma = bool(diffusion.get("learn_sigma", False))
    channels = int(network.out_channels) // (2 if learn_sigma else 1)
    return ConcatConditionedPrior(network.eval(), diffusion, channels).to(device)


__all__ = ["ConcatConditionedPrior", "load"]
