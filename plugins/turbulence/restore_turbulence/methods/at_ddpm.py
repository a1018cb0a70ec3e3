"""AT-DDPM (Nair, Mei & Patel, "AT-DDPM: Restoring Faces degraded by Atmospheric Turbulence using
Denoising Diffusion Probabilistic Models", WACV 2023).

The defining idea (sec. 3.2): the reverse chain of a conditional DDPM does not start from pure noise.
The turbulent input y is diffused forward to an intermediate step t0 < T,

    x_t0 = sqrt(abar_t0) y + sqrt(1 - abar_t0) eps,          (Ho et al. 2020, eq. 4)

and only the steps below t0 run, each conditioned on y by concatenation: far fewer network
evaluations than a chain from x_T (the paper: 60 of 100 respaced steps).  Here t0 is
``start.t0_fraction`` x T (0.6, as the paper) and y is the frame to restore; the condition also
carries the registered average of its burst or temporal neighbours (restore_turbulence.fusion).
With ``model.space: residual`` (the shipped model) the chain runs on the frame minus that average,
and it is y minus the average that is diffused to t0.

``--weights NAME`` runs a published AT-DDPM checkpoint (a guided-diffusion ``UNetModel`` of 6 input
channels, registered with ``restore weights add``) through :mod:`restore_core.published.concat_runner`;
the paper's sampler is ``sampler.name=ddpm sampler.steps=100`` from ``t0_fraction`` 0.6.
"""
from __future__ import annotations

from restore_turbulence.methods.common import TurbulenceMethod


class ATDDPM(TurbulenceMethod):
    """Conditional DDPM on (frame, fused), started from the forward-diffused frame (``start.mode: truncated``)."""

    name = "at-ddpm"
    published_archs = ("guided-diffusion",)


__all__ = ["ATDDPM"]
