"""Noise schedules of the Gaussian (variance-preserving) diffusion process.

Written by hand rather than wrapping ``monai.networks.schedulers.NoiseSchedules``:
MONAI builds its betas in float32 and keeps them inside a scheduler object,
whereas every sampler here derives its coefficients from a float64
``alphas_cumprod`` shared by training and any respaced inference chain.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable

import torch

__all__ = [
    "NoiseSchedule",
    "linear_schedule",
    "scaled_linear_schedule",
    "cosine_schedule",
    "make_schedule",
    "respaced_timesteps",
    "TIMESTEP_SPACINGS",
]

TIMESTEP_SPACINGS = ("trailing", "leading", "linspace")


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """The training noise schedule beta_1..beta_T (Ho et al. 2020, eq. 2).

    Timesteps are 0-based: index ``t`` holds beta_{t+1}. ``alpha_bar(-1) = 1``
    is the clean end of every chain.
    """

    betas: torch.Tensor

    def __post_init__(self) -> None:
        betas = torch.as_tensor(self.betas, dtype=torch.float64).detach().cpu()
        if betas.ndim != 1 or betas.numel() == 0:
            raise ValueError(f"betas must be a non-empty 1-D tensor, got shape {tuple(betas.shape)}")
        if not bool(((betas > 0) & (betas <= 1)).all()):
            raise ValueError("betas must lie in (0, 1]")
        object.__setattr__(self, "betas", betas)

    @property
    def num_train_timesteps(self) -> int:
        return int(self.betas.numel())

    @property
    def alphas(self) -> torch.Tensor:
        return 1.0 - self.betas

    @cached_property
    def alphas_cumprod(self) -> torch.Tensor:
        """alpha_bar_t = prod_{s<=t} (1 - beta_s) (Ho et al. 2020, eq. 4), float64."""
        return torch.cumprod(self.alphas, dim=0)

    def alpha_bar(self, t: torch.Tensor | int) -> torch.Tensor:
        """Gather alpha_bar at integer timesteps ``t`` (any shape; -1 gives 1.0), float64."""
        t = torch.as_tensor(t)
        if t.dtype.is_floating_point or t.dtype == torch.bool:
            raise TypeError(f"timesteps must be integers, got {t.dtype}")
        if bool(((t < -1) | (t >= self.num_train_timesteps)).any()):
            raise IndexError(f"timesteps must lie in [-1, {self.num_train_timesteps - 1}]")
        table = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod]).to(t.device)
        return table[t.long() + 1]


def linear_schedule(
    num_train_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 2e-2
) -> NoiseSchedule:
    """Betas linear from beta_start to beta_end (Ho et al. 2020, sec. 4)."""
    return NoiseSchedule(torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float64))


def scaled_linear_schedule(
    num_train_timesteps: int = 1000, beta_start: float = 8.5e-4, beta_end: float = 1.2e-2
) -> NoiseSchedule:
    """Betas whose square roots are linear (Rombach et al. 2022, latent diffusion checkpoints)."""
    roots = torch.linspace(beta_start**0.5, beta_end**0.5, num_train_timesteps, dtype=torch.float64)
    return NoiseSchedule(roots**2)


def cosine_schedule(num_train_timesteps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> NoiseSchedule:
    """alpha_bar(t) = f(t)/f(0), f(t) = cos^2(((t/T + s)/(1 + s)) pi/2) (Nichol & Dhariwal 2021, eq. 17).

    beta_t = 1 - alpha_bar(t)/alpha_bar(t-1), clipped at ``max_beta`` to avoid
    the singularity at t = T (same paper, sec. 3.2).
    """
    T = num_train_timesteps
    grid = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((grid + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1.0 - f[1:] / f[:-1]).clamp(max=max_beta)
    return NoiseSchedule(betas)


_SCHEDULES: dict[str, Callable[..., NoiseSchedule]] = {
    "linear": linear_schedule,
    "scaled_linear": scaled_linear_schedule,
    "cosine": cosine_schedule,
}


def make_schedule(name: str, num_train_timesteps: int = 1000, **kw: Any) -> NoiseSchedule:
    """Build a schedule by name: "linear" | "scaled_linear" | "cosine"."""
    try:
        factory = _SCHEDULES[name]
    except KeyError:
        raise ValueError(f"unknown noise schedule {name!r}; choose from {sorted(_SCHEDULES)}") from None
    return factory(num_train_timesteps, **kw)


def respaced_timesteps(
    num_train_timesteps: int,
    num_inference_steps: int,
    spacing: str = "trailing",
    t_start: int | None = None,
) -> torch.Tensor:
    """Descending, unique inference timesteps on a T-step training chain.

    Spacings follow Lin et al. 2024 ("Common diffusion noise schedules and
    sample steps are flawed", Table 2): "trailing" (starts at T-1),
    "leading" (starts at a multiple of T//n, as in DDIM's original code) and
    "linspace" (both ends included). Decoupling training and inference
    chains is iDDPM's respacing (Nichol & Dhariwal 2021, sec. 4).

    ``t_start`` (inclusive, < T) truncates the chain so that it starts exactly
    at ``t_start`` (truncated start modes diffuse their input to that step);
    the chosen spacing is applied to [0, t_start], and a "leading" grid is
    shifted up so its first step is ``t_start``.
    """
    T = int(num_train_timesteps)
    n = int(num_inference_steps)
    if spacing not in TIMESTEP_SPACINGS:
        raise ValueError(f"unknown timestep spacing {spacing!r}; choose from {TIMESTEP_SPACINGS}")
    top = T - 1 if t_start is None else int(t_start)
    if not 0 <= top < T:
        raise ValueError(f"t_start must lie in [0, {T - 1}], got {t_start}")
    span = top + 1
    if not 1 <= n <= span:
        raise ValueError(f"num_inference_steps must lie in [1, {span}], got {n}")
    k = torch.arange(n, dtype=torch.float64)
    if spacing == "trailing":
        ts = (span - k * span / n).round() - 1
    elif spacing == "linspace":
        ts = torch.linspace(top, 0, n, dtype=torch.float64).round()
    else:  # leading
        step = span // n
        ts = (n - 1 - k) * step
        if t_start is not None:
            ts = ts + (top - (n - 1) * step)
    return ts.long()
