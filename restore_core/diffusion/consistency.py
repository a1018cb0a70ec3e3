"""Data-consistency steps that keep a sample faithful to the measurement y.

One interface, two hooks, both identity by default. In the sampling loop::

    x0, eps = predict_x0_and_eps(out, x_t, ab_t, prediction_type)
    x0 = step.correct_x0(x0, t, y)                              # after the model
    out = model_output_from_x0(x0, x_t, ab_t, prediction_type)  # hand x0 to the sampler
    x_prev, x0 = sampler.step(out, t, x_t, generator)
    x_prev = step.correct_prev(x_prev, t_prev, y, schedule, generator, x_t=x_t, x0=x0,
                               x0_fn=...)                        # after the sampler

``y`` is the measurement (e.g. the LR image) in the same data units as x.
"""
from __future__ import annotations

from typing import Callable

import torch

from .forward import q_sample
from .operators import OPERATORS, AveragePoolSR, BicubicSR, LinearOperator, bicubic_resize_matrix
from .samplers.base import gaussian_noise
from .schedules import NoiseSchedule

__all__ = [
    "ConsistencyStep",
    "ILVR",
    "DDNM",
    "DDNMPlus",
    "DPS",
    "CONSISTENCY_STEPS",
    "LinearOperator",
    "AveragePoolSR",
    "BicubicSR",
    "bicubic_resize_matrix",
    "OPERATORS",
]

X0Fn = Callable[[torch.Tensor], torch.Tensor]


class ConsistencyStep:
    """Base class: both hooks return their input unchanged."""

    def correct_x0(self, x0: torch.Tensor, t: int, y: torch.Tensor) -> torch.Tensor:
        """Correct the model's x0 estimate at step ``t`` (before the sampler step)."""
        return x0

    def correct_prev(
        self,
        x_prev: torch.Tensor,
        t_prev: int,
        y: torch.Tensor,
        schedule: NoiseSchedule,
        generator: torch.Generator | None = None,
        x_t: torch.Tensor | None = None,
        x0: torch.Tensor | None = None,
        x0_fn: X0Fn | None = None,
    ) -> torch.Tensor:
        """Correct the sampler's x_{t_prev} (t_prev = -1 at the end of the chain).

        ``x_t`` is the sample the step started from, ``x0`` the estimate it
        used, ``x0_fn(x_t) -> x0`` a differentiable re-run of the model (DPS).
        """
        return x_prev


class ILVR(ConsistencyStep):
    """Iterative latent variable refinement (Choi et al. 2021, eq. 4-5, Alg. 1).

    x_{t-1} <- x_{t-1} - phi(x_{t-1}) + phi(y_{t-1}), y_{t-1} ~ q(y_{t-1} | A^+ y),
    with phi = A^+ A (downsample by N then upsample) and y the LR image.
    Applied while t_prev >= ``t_stop`` (the paper's conditioning range); at
    t_prev = -1 y_{-1} = A^+ y, so A(x) = y exactly (A A^+ = I).
    """

    def __init__(
        self, scale: int, spatial_dims: int = 2, operator: LinearOperator | None = None, t_stop: int = -1
    ) -> None:
        self.operator = operator if operator is not None else AveragePoolSR(scale, spatial_dims)
        self.t_stop = t_stop

    def correct_prev(
        self,
        x_prev: torch.Tensor,
        t_prev: int,
        y: torch.Tensor,
        schedule: NoiseSchedule,
        generator: torch.Generator | None = None,
        x_t: torch.Tensor | None = None,
        x0: torch.Tensor | None = None,
        x0_fn: X0Fn | None = None,
    ) -> torch.Tensor:
        if t_prev < self.t_stop:
            return x_prev
        op = self.operator
        y_hr = op.A_pinv(y)
        y_prev = q_sample(y_hr, t_prev, gaussian_noise(y_hr, generator), schedule) if t_prev >= 0 else y_hr
        return x_prev + op.A_pinv(op.A(y_prev) - op.A(x_prev))


class DDNM(ConsistencyStep):
    """Range-null space decomposition x0 <- A^+ y + (I - A^+ A) x0 (Wang et al. DDNM 2023, eq. 13).

    Through the loop's final step (t_prev = -1 returns x0), A(output) = y exactly.
    """

    def __init__(self, operator: LinearOperator) -> None:
        self.operator = operator

    def correct_x0(self, x0: torch.Tensor, t: int, y: torch.Tensor) -> torch.Tensor:
        return x0 + self.operator.A_pinv(y - self.operator.A(x0))


class DDNMPlus(ConsistencyStep):
    """Noisy-measurement DDNM+ (Wang et al. DDNM 2023, eq. 19), with a simplification.

    Paper: x0 <- x0 - Sigma_t A^+(A x0 - y) with Sigma_t = lambda_t I,
    lambda_t = 1 if sigma_t >= a_t sigma_y else sigma_t/(a_t sigma_y), and the
    sampler's noise reduced so the noise A^+ carries in from y fits the budget.

    Here (sampler-agnostic, in ``correct_prev``): the correction is applied to
    x_{t-1} as if to x0 with eps held fixed, x_{t-1} += a lambda A^+(y - A x0), with
    a = sqrt(ab_{t-1}) and the budget sigma = sqrt(1 - ab_{t-1}), the whole noise
    of x_{t-1} rather than only the freshly drawn part; the sampler's noise is
    not reduced (it has been drawn already), so the range space may carry up to
    sqrt(2) times the chain's noise level. lambda -> 0 as t_prev -> -1, so the
    final sample is not forced onto the noisy y; sigma_y = 0 reduces to DDNM.
    """

    def __init__(self, operator: LinearOperator, sigma_y: float) -> None:
        if sigma_y < 0:
            raise ValueError(f"sigma_y must be >= 0, got {sigma_y}")
        self.operator = operator
        self.sigma_y = float(sigma_y)

    def correct_prev(
        self,
        x_prev: torch.Tensor,
        t_prev: int,
        y: torch.Tensor,
        schedule: NoiseSchedule,
        generator: torch.Generator | None = None,
        x_t: torch.Tensor | None = None,
        x0: torch.Tensor | None = None,
        x0_fn: X0Fn | None = None,
    ) -> torch.Tensor:
        if x0 is None:
            raise ValueError("DDNMPlus needs the step's x0 estimate (x0=...)")
        ab = float(schedule.alpha_bar(torch.tensor(int(t_prev))))
        a, budget = ab**0.5, (1.0 - ab) ** 0.5
        lam = 1.0 if budget >= a * self.sigma_y else budget / (a * self.sigma_y)
        if lam == 0.0:
            return x_prev
        return x_prev + (a * lam) * self.operator.A_pinv(y - self.operator.A(x0))


class DPS(ConsistencyStep):
    """Diffusion posterior sampling (Chung et al. ICLR 2023, Alg. 1).

    x_{t-1} <- x_{t-1} - zeta grad_{x_t} ||y - A(x0(x_t))|| per sample, with the
    unsquared norm as in the authors' code (Alg. 1's squared norm with
    zeta_i = zeta/||y - A x0||, up to a factor 2). The gradient runs through
    the denoiser, so the engine passes ``x0_fn(x_t) -> x0`` (the model plus
    parameterisation, differentiable); without it, ``x0`` must carry an autograd
    graph back to ``x_t`` (x_t.requires_grad).
    """

    def __init__(self, operator: LinearOperator, step_size: float = 1.0) -> None:
        self.operator = operator
        self.step_size = float(step_size)

    def correct_prev(
        self,
        x_prev: torch.Tensor,
        t_prev: int,
        y: torch.Tensor,
        schedule: NoiseSchedule,
        generator: torch.Generator | None = None,
        x_t: torch.Tensor | None = None,
        x0: torch.Tensor | None = None,
        x0_fn: X0Fn | None = None,
    ) -> torch.Tensor:
        if x_t is None:
            raise ValueError("DPS needs the step's starting sample (x_t=...)")
        with torch.enable_grad():
            if x0_fn is not None:
                leaf = x_t.detach().requires_grad_(True)
                x0_hat = x0_fn(leaf)
            elif x0 is not None and x_t.requires_grad and x0.requires_grad:
                leaf, x0_hat = x_t, x0
            else:
                raise ValueError("DPS needs x0_fn (or x0 with a graph to x_t)")
            residual = (y - self.operator.A(x0_hat)).flatten(1)
            loss = residual.norm(dim=1).sum()  # per-sample norms: gradients stay per sample
            (grad,) = torch.autograd.grad(loss, leaf)
        return (x_prev - self.step_size * grad).detach()


CONSISTENCY_STEPS: dict[str, Callable[..., ConsistencyStep]] = {
    "ilvr": ILVR,
    "ddnm": DDNM,
    "ddnm+": DDNMPlus,
    "dps": DPS,
}
