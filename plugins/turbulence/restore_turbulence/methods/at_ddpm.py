"""AT-DDPM (Nair, Mei & Patel, "AT-DDPM: Restoring Faces degraded by Atmospheric Turbulence using
Denoising Diffusion Probabilistic Models", WACV 2023).

The defining idea (sec. 3.2): the reverse chain of a conditional DDPM does not start from pure noise.
The turbulent input y is diffused forward to an intermediate step t0 < T,

    x_t0 = sqrt(abar_t0) y + sqrt(1 - abar_t0) eps,          (Ho et al. 2020, eq. 4)

and only the steps below t0 run, each conditioned on y by concatenation: far fewer network
evaluations than a chain from x_T (the paper: 60 of 100 respaced steps).  Here t0 is
``start.t0_fraction`` x T (0.6, as the paper) and y is the frame to restore; the condition also
carries the registered average of its burst or temporal neighbours (restore_turbulence.fusion).
"""
from __future__ import annotations

from restore_turbulence.methods.common import TurbulenceMethod


class ATDDPM(TurbulenceMethod):
    """Conditional DDPM on (frame, fused), started from the forward-diffused frame (``start.mode: truncated``)."""

    name = "at-ddpm"


__all__ = ["ATDDPM"]
