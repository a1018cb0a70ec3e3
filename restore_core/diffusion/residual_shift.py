"""ResShift: diffusion that shifts the residual between HR and up(LR) (Yue et al. NeurIPS 2023).

Forward process (sec. 2.1, the marginal of the transition of eq. 1): x_t = x0 + eta_t (y0 - x0) + kappa sqrt(eta_t) eps,
with y0 = up(LR). The chain starts near y0 (eta_T ~ 1) and ends at x0 (eta_0 = 0),
in as few as 15 steps. Timesteps are 0-based (index t holds eta_{t+1});
t = -1 is the clean end.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .forward import expand_to
from .samplers.base import Sampler, StepOutput, gaussian_noise

__all__ = [
    "ResidualShiftSchedule",
    "residual_shift_schedule",
    "rs_q_sample",
    "rs_scale_model_input",
    "start_residual_shift",
    "ResidualShiftSampler",
]


@dataclass(frozen=True, eq=False)
class ResidualShiftSchedule:
    """The shifting schedule eta_1..eta_T (float64) and the noise scale kappa."""

    etas: torch.Tensor
    kappa: float

    def __post_init__(self) -> None:
        etas = torch.as_tensor(self.etas, dtype=torch.float64).detach().cpu()
        if etas.ndim != 1 or etas.numel() < 1:
            raise ValueError("etas must be a non-empty 1-D tensor")
        if not bool(((etas > 0) & (etas <= 1)).all()) or not bool((etas.diff() > 0).all()):
            raise ValueError("etas must increase strictly within (0, 1]")
        if self.kappa <= 0:
            raise ValueError(f"kappa must be positive, got {self.kappa}")
        object.__setattr__(self, "etas", etas)

    @property
    def num_train_timesteps(self) -> int:
        return int(self.etas.numel())

    def eta(self, t: torch.Tensor | int) -> torch.Tensor:
        """Gather eta at integer timesteps ``t`` (any shape; -1 gives 0), float64."""
        t = torch.as_tensor(t)
        if bool(((t < -1) | (t >= self.num_train_timesteps)).any()):
            raise IndexError(f"timesteps must lie in [-1, {self.num_train_timesteps - 1}]")
        table = torch.cat([torch.zeros(1, dtype=torch.float64), self.etas]).to(t.device)
        return table[t.long() + 1]


def residual_shift_schedule(
    num_steps: int = 15,
    kappa: float = 2.0,
    p: float = 0.3,
    min_noise_level: float = 0.04,
    sqrt_eta_end: float = 0.99,
    eta_1: float | None = None,
) -> ResidualShiftSchedule:
    """sqrt(eta_t) = sqrt(eta_1) b0^{beta_t}, beta_t = ((t-1)/(T-1))^p (T-1) (Yue et al. 2023, eq. 10).

    b0 = exp(log(sqrt(eta_T)/sqrt(eta_1))/(T-1)) so the schedule ends at
    sqrt(eta_T) = ``sqrt_eta_end``. Defaults follow the released code and
    configs (zsyOAOA/ResShift, ``get_named_eta_schedule('exponential')``,
    realsr_swinunet_realesrgan256.yaml): sqrt(eta_1) = min(min_noise_level/kappa,
    min_noise_level), i.e. eta_1 = 4e-4 for kappa = 2 (paper: kappa sqrt(eta_1) = 0.04),
    and sqrt(eta_T) = 0.99. ``eta_1`` overrides that first value.
    """
    if num_steps < 2:
        raise ValueError("a residual-shift chain needs at least 2 steps")
    sqrt_eta_1 = math.sqrt(eta_1) if eta_1 is not None else min(min_noise_level / kappa, min_noise_level)
    if not 0 < sqrt_eta_1 < sqrt_eta_end <= 1:
        raise ValueError(f"need 0 < sqrt(eta_1)={sqrt_eta_1} < sqrt_eta_end={sqrt_eta_end} <= 1")
    T = num_steps
    log_b0 = math.log(sqrt_eta_end / sqrt_eta_1) / (T - 1)
    beta = (torch.arange(T, dtype=torch.float64) / (T - 1)) ** p * (T - 1)
    sqrt_etas = sqrt_eta_1 * torch.exp(beta * log_b0)
    return ResidualShiftSchedule(sqrt_etas**2, float(kappa))


def rs_q_sample(
    x0: torch.Tensor, y0: torch.Tensor, t: torch.Tensor | int, noise: torch.Tensor, sched: ResidualShiftSchedule
) -> torch.Tensor:
    """x_t = x0 + eta_t (y0 - x0) + kappa sqrt(eta_t) noise (Yue et al. 2023, sec. 2.1: marginal of the transition eq. 1)."""
    eta = sched.eta(torch.as_tensor(t, device=x0.device))
    return x0 + expand_to(eta, x0) * (y0 - x0) + expand_to(sched.kappa * eta.sqrt(), x0) * noise


def rs_scale_model_input(x_t: torch.Tensor, t: torch.Tensor | int, sched: ResidualShiftSchedule) -> torch.Tensor:
    """x_t / sqrt(kappa^2 eta_t + 1): the network's input normalisation in the released code
    (``GaussianDiffusion._scale_input`` with latent inputs of unit variance)."""
    eta = sched.eta(torch.as_tensor(t, device=x_t.device))
    return x_t / expand_to((sched.kappa**2 * eta + 1.0).sqrt(), x_t)


def start_residual_shift(
    y0: torch.Tensor, sched: ResidualShiftSchedule, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, int]:
    """x_T = y0 + kappa sqrt(eta_T) eps, the prior the chain starts from (Yue et al. 2023, sec. 2.2)."""
    T = sched.num_train_timesteps
    scale = sched.kappa * float(sched.etas[-1]) ** 0.5
    return y0 + scale * gaussian_noise(y0, generator), T - 1


class ResidualShiftSampler(Sampler):
    """Ancestral sampling of the posterior q(x_s | x_t, x0_hat, y0) (Yue et al. 2023, sec. 2.1) with an x0 model.

    Mean (eta_s/eta_t) x_t + ((eta_t - eta_s)/eta_t) x0, variance
    kappa^2 (eta_s/eta_t)(eta_t - eta_s). The posterior holds for any s < t (the
    increments of the forward process are independent), so respaced chains
    are exact too. The last step lands on eta = 0 and returns x0. y0 is not
    needed: the posterior depends on it only through x_t.
    """

    schedule: ResidualShiftSchedule

    def __init__(
        self,
        schedule: ResidualShiftSchedule,
        prediction_type: str = "sample",
        clip_sample: float | None = None,
        timestep_spacing: str = "trailing",
    ) -> None:
        if prediction_type != "sample":
            raise ValueError("ResidualShiftSampler supports prediction_type='sample' (x0) only")
        super().__init__(schedule, prediction_type, clip_sample, timestep_spacing)

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int,
        sample: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> StepOutput:
        eta_t, eta_s = (float(e) for e in self.schedule.eta(torch.tensor([int(timestep), self.prev_timestep(timestep)])))
        x0 = self._clip(model_output)
        prev = (eta_s / eta_t) * sample + ((eta_t - eta_s) / eta_t) * x0
        variance = self.schedule.kappa**2 * eta_s / eta_t * (eta_t - eta_s)
        if variance > 0:
            prev = prev + variance**0.5 * gaussian_noise(sample, generator)
        return StepOutput(prev, x0)
