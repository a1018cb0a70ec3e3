"""Ancestral DDPM sampling on a respaced chain."""
from __future__ import annotations

import torch

from .base import GaussianSampler, StepOutput, gaussian_noise

class DDPMSampler(GaussianSampler):
    """x_{s} ~ q(x_s | x_t, x0_hat) with the "fixed_small" posterior variance.

    Posterior mean and variance: Ho et al. 2020, eq. 6-7. On a respaced chain
    t -> s the step's beta is recomputed as 1 - alpha_bar_t/alpha_bar_s
    (Nichol & Dhariwal 2021, sec. 4), so any number of steps is valid.
    """

    def _posterior_mean(
        self, model_output: torch.Tensor, timestep: int, sample: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, float, float, float]:
        """(posterior mean, x0, alpha_bar_t, alpha_bar_s, the respaced step's beta)."""
        ab_t, ab_s = self._alpha_bars(timestep)
        x0, _ = self._x0_and_eps(model_output, ab_t, sample)
        beta = 1.0 - ab_t / ab_s
        coef_x0 = ab_s**0.5 * beta / (1.0 - ab_t)
        coef_xt = (1.0 - beta) ** 0.5 * (1.0 - ab_s) / (1.0 - ab_t)
        return coef_x0 * x0 + coef_xt * sample, x0, ab_t, ab_s, beta

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int,
        sample: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> StepOutput:
        mean, x0, ab_t, ab_s, beta = self._posterior_mean(model_output, timestep, sample)
        variance = (1.0 - ab_s) / (1.0 - ab_t) * beta
        if variance > 0:
            mean = mean + variance**0.5 * gaussian_noise(sample, generator)
        return StepOutput(mean, x0)


class LearnedRangeDDPMSampler(DDPMSampler):
    """Ancestral sampling with the network's learned variance (Nichol & Dhariwal 2021, iDDPM, eq. 15).

    Networks trained with ``learn_sigma`` output, beside eps, values v in [-1, 1]
    per pixel that interpolate the log-variance between the posterior's
    beta_tilde_t (v = -1, the "fixed_small" of :class:`DDPMSampler`) and beta_t
    (v = +1): ``log var = (v + 1)/2 log beta_t + (1 - v)/2 log beta_tilde_t``,
    both on the respaced chain.  The values come from ``variance_source()``
    (the prior records its last output's v); the mean is DDPM's.  The last step
    adds no noise (as the reference's ``nonzero_mask``).
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.variance_source: object = None

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int,
        sample: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> StepOutput:
        if not callable(self.variance_source):
            raise ValueError("the learned-variance sampler needs a model with learned variance (learn_sigma)")
        mean, x0, ab_t, ab_s, beta = self._posterior_mean(model_output, timestep, sample)
        if ab_s >= 1.0:  # the last step lands on x0: no noise
            return StepOutput(mean, x0)
        values = self.variance_source()  # type: ignore[operator]
        min_log = torch.log(torch.tensor((1.0 - ab_s) / (1.0 - ab_t) * beta, dtype=torch.float64))
        max_log = torch.log(torch.tensor(beta, dtype=torch.float64))
        frac = (values.to(sample.dtype) + 1.0) / 2.0
        log_variance = frac * float(max_log) + (1.0 - frac) * float(min_log)
        return StepOutput(mean + torch.exp(0.5 * log_variance) * gaussian_noise(sample, generator), x0)


__all__ = ["DDPMSampler", "LearnedRangeDDPMSampler"]
