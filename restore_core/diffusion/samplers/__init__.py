"""Samplers sharing one contract: ``set_timesteps``, ``timesteps``, ``step``, ``prev_timestep``, ``reset``."""
from __future__ import annotations

from typing import Any, Callable

from .base import GaussianSampler, Sampler, StepOutput
from .ddim import DDIMSampler
from .ddpm import DDPMSampler, LearnedRangeDDPMSampler
from .dpm_solver import DPMSolverPlusPlusSampler

__all__ = [
    "SAMPLERS",
    "make_sampler",
    "Sampler",
    "GaussianSampler",
    "StepOutput",
    "DDPMSampler",
    "LearnedRangeDDPMSampler",
    "DDIMSampler",
    "DPMSolverPlusPlusSampler",
    "ResidualShiftSampler",
]


def _residual_shift_sampler(schedule: Any, **kw: Any) -> Sampler:
    # imported on use: residual_shift imports .base, which would make a cycle here
    from ..residual_shift import ResidualShiftSampler

    return ResidualShiftSampler(schedule, **kw)


def __getattr__(name: str) -> Any:
    if name == "ResidualShiftSampler":
        from ..residual_shift import ResidualShiftSampler

        return ResidualShiftSampler
    raise AttributeError(name)


SAMPLERS: dict[str, Callable[..., Sampler]] = {
    "ddpm": DDPMSampler,
    "ddim": DDIMSampler,
    "iddpm": LearnedRangeDDPMSampler,
    "dpm_solver++": DPMSolverPlusPlusSampler,
    "residual_shift": _residual_shift_sampler,
}


def make_sampler(name: str, schedule: Any, **kw: Any) -> Sampler:
    """Build a sampler by name: "ddpm" | "ddim" | "dpm_solver++" (NoiseSchedule) or "residual_shift"."""
    try:
        factory = SAMPLERS[name]
    except KeyError:
        raise ValueError(f"unknown sampler {name!r}; choose from {sorted(SAMPLERS)}") from None
    return factory(schedule, **kw)
