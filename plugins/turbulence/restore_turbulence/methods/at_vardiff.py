"""AT-VarDiff (Wang, López-Tapia & Katsaggelos, "Atmospheric Turbulence Correction via Variational
Deep Diffusion", IEEE MIPR 2023, arXiv 2305.05077).

The defining idea: a variational encoder extracts a latent, task-specific prior z from the degraded
input, and the conditional diffusion model is guided by it.  Trained in the variational framework
(the conditional ELBO, Sohn et al. 2015 eq. 4):

    L = E_q(z|y,x) [ L_diffusion(x | y, z) ] + beta KL( q(z | y, x) || p(z | y) ),

with q the posterior encoder (it sees the clean frame x, so z learns what links x and y: the
degradation) and p the prior encoder of y alone, which restoration uses.  The paper's text was not
reachable offline (only its abstract); this conditional-VAE reading, the latent's shape (a map at 1/4
resolution, injected into the denoiser's features) and beta are ours, stated in docs/training.md.
"""
from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig

from restore_core.engine.training import LOSSES, noisy_input, regression_target
from restore_turbulence.methods.common import TurbulenceMethod
from restore_turbulence.model import TurbulenceModel, gaussian_kl


def variational_loss(kl_weight: float) -> Any:
    """The loss above as a :data:`restore_core.engine.training.LossFn` (logs both terms)."""

    def loss_fn(model: TurbulenceModel, batch: tuple, generator: torch.Generator, settings: Any) -> tuple[torch.Tensor, dict[str, float]]:
        lr, hr = batch[0], batch[1]
        if model.latent is None:
            raise ValueError("at-vardiff needs model.latent")
        mean_q, log_var_q = model.latent.posterior_stats(lr, hr)
        mean_p, log_var_p = model.latent.prior_stats(lr)
        noise = torch.randn(mean_q.shape, generator=generator, device=generator.device).to(mean_q.device)
        z = mean_q + (0.5 * log_var_q).exp() * noise  # reparameterisation (Kingma & Welling 2014)
        cond = model.condition(lr, tuple(hr.shape[2:]), latent=z)
        draw = noisy_input(model, lr, hr, generator, settings, cond=cond)
        fidelity = LOSSES[settings.loss](model.denoise(draw.x_t, draw.t, draw.cond), regression_target(model, draw.x0, draw.noise, draw.t))
        kl = gaussian_kl(mean_q, log_var_q, mean_p, log_var_p)
        return fidelity + kl_weight * kl, {"diffusion": fidelity.item(), "kl": kl.item()}

    return loss_fn


class ATVarDiff(TurbulenceMethod):
    """Conditional diffusion guided by the variational latent (``model.latent``); z = the mean of p(z | y) at restoration."""

    name = "at-vardiff"

    def training_loss(self, cfg: DictConfig) -> Any:
        return variational_loss(float((cfg.get("at_vardiff") or {}).get("kl_weight", 0.01)))


__all__ = ["ATVarDiff", "variational_loss"]
