"""Where the reverse chain starts: pure noise, a forward-diffused estimate, or the noisy input itself.

Every start mode returns ``(x_start, t_start)``; pass ``t_start`` to
``sampler.set_timesteps(..., t_start=t_start)`` so the chain begins there.
"""
from __future__ import annotations

import torch

from .forward import expand_to, q_sample
from .schedules import NoiseSchedule
from .wavelet import haar_forward

__all__ = ["start_from_noise", "start_truncated", "start_from_noisy_input", "estimate_noise_sigma"]

# median(|n|) / 0.6745 = std for Gaussian n (Donoho & Johnstone 1994)
_MAD_TO_STD = 0.6745


def start_from_noise(
    shape: tuple[int, ...] | torch.Size,
    schedule: NoiseSchedule,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, int]:
    """x_T ~ N(0, I) at t = T - 1 (Ho et al. 2020, Alg. 2)."""
    x = torch.randn(tuple(shape), generator=generator, device=device, dtype=dtype)
    return x, schedule.num_train_timesteps - 1


def start_truncated(
    x0_estimate: torch.Tensor, t0: int, schedule: NoiseSchedule, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, int]:
    """Forward-diffuse an initial estimate to t0 < T and start there (Chung, Sim & Ye, CCDF, CVPR 2022, sec. 3).

    Also the start of DifFace (Yue & Loy 2024) and AT-DDPM.
    """
    if not 0 <= int(t0) < schedule.num_train_timesteps:
        raise ValueError(f"t0 must lie in [0, {schedule.num_train_timesteps - 1}], got {t0}")
    noise = torch.randn(
        x0_estimate.shape, generator=generator, device=x0_estimate.device, dtype=x0_estimate.dtype
    )
    return q_sample(x0_estimate, int(t0), noise, schedule), int(t0)


def start_from_noisy_input(
    y: torch.Tensor,
    sigma: float | torch.Tensor,
    schedule: NoiseSchedule,
    generator: torch.Generator | None = None,
    top_up_noise: bool = False,
) -> tuple[torch.Tensor, int]:
    """Start at the t* whose noise level matches the input's noise (Chung et al. R2D2+, IEEE TMI 2023).

    With y = x + sigma n (data units), sqrt(ab) y = sqrt(ab) x + sqrt(ab) sigma n is
    a sample of q(x_t | x) when sqrt((1 - ab)/ab) = sigma, so t* minimises
    |sqrt((1 - ab_t)/ab_t) - sigma| and x_{t*} = sqrt(ab_t*) y. A per-sample
    sigma [B] uses its largest value (one t for the whole batch).

    ``top_up_noise=True`` instead picks the first t whose level is >= every
    sigma and adds independent noise sqrt(level^2 - sigma_b^2) per sample, so
    every sample sits exactly on q(x_t* | x).
    """
    sigma_t = torch.as_tensor(sigma, dtype=torch.float64).reshape(-1)
    if bool((sigma_t < 0).any()):
        raise ValueError("sigma must be non-negative")
    ab = schedule.alphas_cumprod
    nsr = ((1.0 - ab) / ab).sqrt()  # increasing in t
    target = float(sigma_t.max())
    if top_up_noise:
        above = torch.nonzero(nsr >= target)
        if above.numel() == 0:
            raise ValueError(f"sigma {target} exceeds the largest noise level {float(nsr[-1])} of the schedule")
        t_star = int(above[0])
        extra = (nsr[t_star] ** 2 - sigma_t**2).clamp(min=0).sqrt().to(y.device)
        noise = torch.randn(y.shape, generator=generator, device=y.device, dtype=y.dtype)
        y = y + expand_to(extra, y) * noise
    else:
        t_star = int((nsr - target).abs().argmin())
    return float(ab[t_star].sqrt()) * y, t_star


def estimate_noise_sigma(x: torch.Tensor, spatial_dims: int) -> torch.Tensor:
    """Per-sample Gaussian noise std: median(|HH|)/0.6745 on the finest diagonal Haar subband.

    Donoho & Johnstone 1994, Biometrika 81(3). The orthonormal Haar
    keeps white noise's std; the diagonal subband (HH in 2D, HHH in 3D) holds
    little of a smooth image. Odd spatial sizes are cropped by one. Returns [B].
    """
    crop = tuple(slice(0, s - s % 2) for s in x.shape[2:])
    hh = haar_forward(x[(slice(None), slice(None), *crop)], spatial_dims)
    channels = x.shape[1]
    diagonal = hh[:, -channels:]
    return diagonal.abs().flatten(1).median(dim=1).values / _MAD_TO_STD
