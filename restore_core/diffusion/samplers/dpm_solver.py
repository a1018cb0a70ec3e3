"""DPM-Solver++(2M): multistep second-order solver of the diffusion ODE in data-prediction form."""
from __future__ import annotations

import math

import torch

from ..schedules import NoiseSchedule
from .base import GaussianSampler, StepOutput

__all__ = ["DPMSolverPlusPlusSampler"]


class DPMSolverPlusPlusSampler(GaussianSampler):
    """Lu et al. DPM-Solver++ 2022, Alg. 2 (multistep, order 2, x0 prediction).

    With alpha = sqrt(ab), sigma = sqrt(1 - ab), lambda = log(alpha/sigma) and
    h = lambda_s - lambda_t for a step t -> s:

        x_s = (sigma_s/sigma_t) x_t - alpha_s (e^{-h} - 1) D,
        D = x0_t                                              (first order = DDIM, eta 0)
        D = (1 + 1/(2r)) x0_t - 1/(2r) x0_u,  r = h_u/h        (second order, u = the step before t)

    The first step has no history and the final step (to t = -1, sigma = 0,
    lambda = +inf, where the update is simply x0_t) is first order
    ("lower_order_final"). ``solver_order=1`` gives deterministic DDIM.

    Prefer "trailing" spacing (the default): a "linspace" chain ends at t = 0,
    where lambda jumps, so its last second-order step has r << 1 and
    extrapolates x0 by 1/(2r); with few steps that can be worse than DDIM.
    """

    def __init__(
        self,
        schedule: NoiseSchedule,
        prediction_type: str = "epsilon",
        clip_sample: float | None = None,
        timestep_spacing: str = "trailing",
        solver_order: int = 2,
    ) -> None:
        if solver_order not in (1, 2):
            raise ValueError(f"solver_order must be 1 or 2, got {solver_order}")
        self.solver_order = solver_order
        super().__init__(schedule, prediction_type, clip_sample, timestep_spacing)

    def reset(self) -> None:
        self._history: tuple[int, torch.Tensor] | None = None  # (timestep, x0 estimate)

    @staticmethod
    def _lambda(ab: float) -> float:
        """lambda = log(alpha/sigma) = (log ab - log(1 - ab))/2."""
        return 0.5 * (math.log(ab) - math.log1p(-ab))

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int,
        sample: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> StepOutput:
        timestep = int(timestep)
        ab_t, ab_s = self._alpha_bars(timestep)
        x0, _ = self._x0_and_eps(model_output, ab_t, sample)
        if ab_s >= 1.0:  # final step to clean data: sigma_s = 0 and the update is x0 itself
            prev = x0
        else:
            alpha_s, sigma_s = ab_s**0.5, (1.0 - ab_s) ** 0.5
            sigma_t = (1.0 - ab_t) ** 0.5
            lam_t, lam_s = self._lambda(ab_t), self._lambda(ab_s)
            h = lam_s - lam_t
            expm1_neg_h = math.expm1(-h)  # e^{-h} - 1
            d = x0
            history = self._history
            index = self._index[timestep]
            # second order only right after the chain's previous step (its history is ours)
            if self.solver_order == 2 and history is not None and index > 0 and history[0] == self._chain[index - 1]:
                lam_u = self._lambda(float(self.schedule.alpha_bar(torch.tensor(history[0]))))
                r = (lam_t - lam_u) / h
                d = (1.0 + 0.5 / r) * x0 - (0.5 / r) * history[1]
            prev = (sigma_s / sigma_t) * sample - (alpha_s * expm1_neg_h) * d
        self._history = (timestep, x0)
        return StepOutput(prev, x0)
