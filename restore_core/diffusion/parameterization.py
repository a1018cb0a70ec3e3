"""What the denoiser predicts: epsilon, x0 ("sample") or v, and conversions.

With a = sqrt(alpha_bar), s = sqrt(1 - alpha_bar) and x_t = a x0 + s eps
(Ho et al. 2020, eq. 4): x0 = (x_t - s eps)/a (Ho et al. 2020, eq. 15) and
v = a eps - s x0 (Salimans & Ho 2022, sec. 4 and appendix D), whence
x0 = a x_t - s v and eps = s x_t + a v.
"""
from __future__ import annotations

import torch

from .forward import expand_to

__all__ = [
    "PREDICTION_TYPES",
    "predict_x0_and_eps",
    "to_model_output",
    "v_target",
    "model_output_from_x0",
]

PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")


def _coefficients(alpha_bar: torch.Tensor | float, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sqrt(alpha_bar), sqrt(1 - alpha_bar)) in float64, then cast and shaped like ``like``."""
    ab = torch.as_tensor(alpha_bar, dtype=torch.float64, device=like.device)
    if ab.ndim <= 1:
        return expand_to(ab.sqrt(), like), expand_to((1.0 - ab).sqrt(), like)
    # already broadcastable (e.g. [B, 1, 1, 1])
    return ab.sqrt().to(like.dtype), (1.0 - ab).sqrt().to(like.dtype)


def _check(prediction_type: str) -> None:
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"unknown prediction_type {prediction_type!r}; choose from {PREDICTION_TYPES}")


def predict_x0_and_eps(
    model_output: torch.Tensor,
    x_t: torch.Tensor,
    alpha_bar: torch.Tensor | float,
    prediction_type: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Recover (x0, eps) from a model output (Ho et al. 2020, eq. 15; Salimans & Ho 2022, sec. 4).

    ``alpha_bar`` is a scalar, a per-sample tensor [B], or broadcastable to ``x_t``.
    """
    _check(prediction_type)
    a, s = _coefficients(alpha_bar, x_t)
    if prediction_type == "epsilon":
        eps = model_output
        return (x_t - s * eps) / a, eps
    if prediction_type == "sample":
        x0 = model_output
        return x0, (x_t - a * x0) / s
    v = model_output
    return a * x_t - s * v, s * x_t + a * v


def v_target(x0: torch.Tensor, eps: torch.Tensor, alpha_bar: torch.Tensor | float) -> torch.Tensor:
    """v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x0 (Salimans & Ho 2022, sec. 4)."""
    a, s = _coefficients(alpha_bar, x0)
    return a * eps - s * x0


def to_model_output(
    x0: torch.Tensor, eps: torch.Tensor, alpha_bar: torch.Tensor | float, prediction_type: str
) -> torch.Tensor:
    """The model output (training target) for ``prediction_type``; inverse of :func:`predict_x0_and_eps`."""
    _check(prediction_type)
    if prediction_type == "epsilon":
        return eps
    if prediction_type == "sample":
        return x0
    return v_target(x0, eps, alpha_bar)


def model_output_from_x0(
    x0: torch.Tensor, x_t: torch.Tensor, alpha_bar: torch.Tensor | float, prediction_type: str
) -> torch.Tensor:
    """The model output that yields exactly ``x0`` at ``x_t`` (eps = (x_t - a x0)/s, Ho et al. 2020, eq. 4).

    This is how a consistency step's corrected x0 reaches a sampler whose
    ``step`` takes model outputs: the sampler then uses x0 and the eps implied
    by (x_t, x0), i.e. it samples q(x_{t-1} | x_t, x0) (Wang et al. DDNM 2023, Alg. 1).
    """
    _check(prediction_type)
    if prediction_type == "sample":
        return x0
    a, s = _coefficients(alpha_bar, x_t)
    return to_model_output(x0, (x_t - a * x0) / s, alpha_bar, prediction_type)
