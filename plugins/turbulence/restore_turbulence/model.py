"""The turbulence methods' network: a conditional diffusion model on [reference frame, fused burst].

:class:`TurbulenceModel` is the core's :class:`~restore_core.engine.sr_model.SRDiffusionModel` at scale
1 whose denoiser sees a 2C-channel condition (the frame to restore and the registered temporal average
of its burst or temporal neighbours, :mod:`restore_turbulence.fusion`) by concatenation (SR3 sec. 2.4,
AT-DDPM sec. 3), and, for AT-VarDiff, the latent of a :class:`VariationalLatent` injected into its
features (the core's encoder path, SRDiff sec. 3.3).
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from restore_core.engine.sampling import Condition
from restore_core.engine.sr_model import SRDiffusionModel
from restore_core.nets import build_denoiser


def _conv_encoder(in_channels: int, width: int, out_channels: int) -> nn.Sequential:
    """Three stride-1/2/2 convolutions: a (B, 2 z, H/4, W/4) map of Gaussian parameters."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1), nn.SiLU(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.SiLU(),
        nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.SiLU(),
        nn.Conv2d(2 * width, 2 * out_channels, 3, padding=1),
    )


class VariationalLatent(nn.Module):
    """AT-VarDiff's latent, task-specific prior (Wang, López-Tapia & Katsaggelos, MIPR 2023).

    A conditional-VAE pair of Gaussian encoders over a latent map z (``latent_channels`` at 1/4 of the
    frame's resolution): the prior p(z | y) sees only the degraded condition y, the posterior
    q(z | y, x) also sees the clean frame, i.e. the degradation that links them.  Training samples z
    from q and adds KL(q || p) to the diffusion loss (the evidence lower bound of the variational
    framework, Sohn et al. 2015 eq. 4); restoration takes z from p (its mean, or a sample).
    """

    def __init__(self, condition_channels: int, target_channels: int, latent_channels: int = 8, width: int = 32) -> None:
        super().__init__()
        self.latent_channels = latent_channels
        self.prior = _conv_encoder(condition_channels, width, latent_channels)
        self.posterior = _conv_encoder(condition_channels + target_channels, width, latent_channels)

    @staticmethod
    def _split(stats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_var = stats.chunk(2, dim=1)
        return mean, log_var.clamp(-10.0, 10.0)

    def prior_stats(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._split(self.prior(y))

    def posterior_stats(self, y: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._split(self.posterior(torch.cat([y, x], dim=1)))


def gaussian_kl(mean_q: torch.Tensor, log_var_q: torch.Tensor, mean_p: torch.Tensor, log_var_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mean_q, var_q) || N(mean_p, var_p)), summed over channels, averaged over positions and batch."""
    kl = 0.5 * (log_var_p - log_var_q + (log_var_q.exp() + (mean_q - mean_p) ** 2) / log_var_p.exp() - 1.0)
    return kl.sum(dim=1).mean()


class TurbulenceModel(SRDiffusionModel):
    """The conditional model of ``at-ddpm`` and ``at-vardiff`` (module docstring); pixel space, scale 1.

    ``model.latent`` (a mapping: ``latent_channels``, ``width``; null for none) adds the variational latent.
    ``model.space``: ``pixel`` generates the frame; ``residual`` generates the frame minus the fused
    condition (the turbulence analogue of SRDiff's residual HR - up(LR), Li et al. 2022 eq. 5), so an
    untrained network's x0 is the fused frame itself and training only has to learn what fusion misses.
    The condition tensor ``lr`` of :meth:`condition` is (B, 2C, H, W): [reference frame, fused].
    """

    def __init__(self, model_cfg: Mapping[str, Any], diffusion_cfg: Mapping[str, Any], channels: int, networks: Any = None) -> None:
        settings = dict(model_cfg)
        latent = settings.pop("latent", None)
        space = str(settings.get("space", "pixel"))
        if space not in ("pixel", "residual") or settings.get("wavelet") or settings.get("encoder"):
            raise ValueError("the turbulence model takes model.space=pixel or residual (over the fused frame), "
                             "model.wavelet=false, model.encoder=null")
        settings.update(concat_lr=True, encoder=None, space="pixel")
        super().__init__(settings, diffusion_cfg, 2, channels, networks)
        self.residual_over_fused = space == "residual"
        self.latent = VariationalLatent(2 * channels, channels, **dict(latent)) if latent else None
        denoiser_cfg = dict(settings["denoiser"])
        denoiser_cfg.update(spatial_dims=2, target_channels=channels, cond_channels=2 * channels,
                            encoder_channels=self.latent.latent_channels if self.latent is not None else 0)
        self.denoiser = build_denoiser(denoiser_cfg, networks)

    def condition(self, lr: torch.Tensor, hr_size: tuple[int, ...], latent: torch.Tensor | None = None, sample_latent: bool = False,
                  generator: torch.Generator | None = None) -> Condition:
        """[reference, fused] split, and the latent from the prior p(z | y) unless ``latent`` is given."""
        c = self.channels
        if lr.shape[1] != 2 * c:
            raise ValueError(f"the turbulence condition has {2 * c} channels (reference, fused), got {lr.shape[1]}")
        # up_lr, the image a truncated chain starts from (AT-DDPM), is the fused frame: the best turbulent
        # estimate there is (the frame itself for a single frame). Starting a burst's chain from its
        # reference frame would hand that frame's own tilt and noise to the chain, which the network was
        # trained to trust as signal (an ad-hoc check put it well below the fused frame).
        tensors = {"frame": lr[:, :c], "fused": lr[:, c:], "up_lr": lr[:, c:]}
        if self.latent is not None:
            if latent is None:
                mean, log_var = self.latent.prior_stats(lr)
                latent = mean
                if sample_latent:
                    noise = torch.randn(mean.shape, generator=generator, device=generator.device if generator else None).to(mean.device)
                    latent = mean + (0.5 * log_var).exp() * noise
            tensors["features"] = latent
        return Condition(tensors)

    def to_target(self, hr: torch.Tensor, cond: Condition) -> torch.Tensor:
        return hr - cond.tensors["fused"] if self.residual_over_fused else hr

    def from_target(self, target: torch.Tensor, cond: Condition) -> torch.Tensor:
        return target + cond.tensors["fused"] if self.residual_over_fused else target

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, cond: Condition | None) -> torch.Tensor:
        if cond is None:  # the unconditional branch of classifier-free guidance
            return self.denoiser(x_t, t, None, None)
        condition = torch.cat([cond.tensors["frame"], cond.tensors["fused"]], dim=1)
        return self.denoiser(x_t, t, condition, cond.tensors.get("features"))


__all__ = ["TurbulenceModel", "VariationalLatent", "gaussian_kl"]
