"""A published architecture as a registry denoiser: any method can name it in ``model.denoiser.name``.

:class:`~restore_core.engine.sr_model.SRDiffusionModel` calls a denoiser as
``denoiser(x_t, t, cond, encoder_features)`` and builds it with
``spatial_dims``, ``target_channels``, ``cond_channels`` and
``encoder_channels``.  :class:`PublishedDenoiser` takes those, builds the
reference network from the remaining keyword arguments (its own constructor's)
with ``in_channels = target + cond`` (SR3-style concatenation, as ADM's
``SuperResModel`` conditions) and, for learned-variance networks, returns the
mean part only.  The network's parameters keep the reference's names under
``net.``, so ``denoiser.net`` loads a published file as it is.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from restore_core.errors import ConfigError

#: Architectures whose forward is ``forward(x, timesteps)`` with an ``in_channels``/``out_channels`` constructor.
TIME_CONDITIONED = ("guided-diffusion", "difface")


class PublishedDenoiser(nn.Module):
    """``arch`` built from its reference kwargs, seen through the denoiser call of the SR engine."""

    def __init__(
        self, arch: str, spatial_dims: int = 2, target_channels: int = 3, cond_channels: int = 0, encoder_channels: int = 0, **reference: Any
    ) -> None:
        super().__init__()
        from restore_core.published import build_checked

        if arch not in TIME_CONDITIONED:
            raise ConfigError(f"model.denoiser.name={arch}: the SR engine calls a denoiser as f(x_t, t, cond); use one of {', '.join(TIME_CONDITIONED)}")
        if encoder_channels:
            raise ConfigError(f"model.denoiser.name={arch} takes no encoder features (model.encoder must be null)")
        if spatial_dims != int(reference.get("dims", 2)):
            raise ConfigError(f"model.denoiser.name={arch} is built with dims={reference.get('dims', 2)}, the method needs {spatial_dims}")
        self.target_channels = target_channels
        reference = {**reference, "in_channels": target_channels + cond_channels}
        reference.setdefault("out_channels", target_channels * (2 if reference.pop("learn_sigma", False) else 1))
        self.net = build_checked(arch, reference, "model.denoiser")

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None = None, encoder_features: torch.Tensor | None = None) -> torch.Tensor:
        if cond is not None:
            x_t = torch.cat([x_t, cond.to(x_t.dtype)], dim=1)
        elif self.net_in_channels > self.target_channels:  # the unconditional branch of guidance: zeros
            x_t = torch.cat([x_t, x_t.new_zeros((x_t.shape[0], self.net_in_channels - self.target_channels, *x_t.shape[2:]))], dim=1)
        timesteps = torch.as_tensor(t, device=x_t.device)
        if timesteps.ndim == 0:
            timesteps = timesteps.expand(x_t.shape[0])
        return self.net(x_t, timesteps)[:, : self.target_channels]

    @property
    def net_in_channels(self) -> int:
        return int(getattr(self.net, "in_channels", self.target_channels))


#: The keyword arguments the SR engine adds when it builds a denoiser.
ENGINE_KEYS = ("spatial_dims", "target_channels", "cond_channels", "encoder_channels")


def factory(arch: str) -> Any:
    """The registry factory of ``arch``: a :class:`PublishedDenoiser` when the SR engine builds it (it
    passes :data:`ENGINE_KEYS`), else the reference network itself, for methods that call it their own way."""

    def make(**kwargs: Any) -> nn.Module:
        if any(key in kwargs for key in ENGINE_KEYS):
            return PublishedDenoiser(arch, **kwargs)
        from restore_core.published import build

        return build(arch, kwargs)

    make.__name__ = f"published_{arch.replace('-', '_')}"
    return make


__all__ = ["PublishedDenoiser", "factory", "TIME_CONDITIONED", "ENGINE_KEYS"]
