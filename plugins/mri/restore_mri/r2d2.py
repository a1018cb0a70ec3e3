"""R2D2+ (Chung, Lee & Ye, "MR image denoising and super-resolution using
regularized reverse diffusion", IEEE TMI 2023): denoise and super-resolve one
contrast, slice by slice.

* The network is the core's :class:`SRDiffusionModel` in pixel space (it
  denoises the image itself), conditioned by concatenation of the upsampled
  slice (``concat_lr``), one channel.
* Normalisation: each volume (each frame of a 4D series) is mapped to [-1, 1]
  by robust percentiles (``r2d2.percentiles``); the mapping is undone so the
  output stays in the input's units.
* Noise level: unless ``start.sigma`` is set, sigma is estimated per volume
  in model units with Donoho & Johnstone's MAD estimator,
  ``median(|HH|) / 0.6745`` on the finest diagonal Haar subband
  (:func:`restore_core.diffusion.start.estimate_noise_sigma`), applied to the
  *measured* low-resolution slices and reduced over slices by the median.
  The estimate is the per-pixel noise std of the zero-filled image too:
  with the Fourier-series normalisation of :mod:`restore_mri.kspace`
  zero-filling keeps every measured coefficient, so the zero-filled noise has
  the LR's per-pixel variance, but it is band-limited, so the finest Haar band
  of the zero-filled image itself would hold almost none of it (a ×2
  zero-fill would read as nearly noise-free).
* Start: the reverse diffusion starts from the noisy zero-filled image at the
  matching noise level, ``x_{t*} = sqrt(ab_{t*}) A^+ y`` with t* the step whose
  ``sqrt((1 - ab)/ab)`` is closest to sigma (``start.mode: noisy_input``,
  :func:`restore_core.diffusion.start.start_from_noisy_input`).
* Regularisation: each step replaces the centre of k-space of the x0
  estimate by the measured one: the plugin's ``kspace`` sampler step
  (:mod:`restore_mri.kspace_consistency`, chosen by ``consistency.name: kspace``
  like DDNM), with softness ``consistency.lam`` (``auto``: 1 for clean inputs,
  ``consistency.noisy_lam`` when sigma exceeds ``consistency.clean_sigma``).
* Sampling: the core's sampling plan (:func:`restore_core.engine.plan.run_plan`)
  with the k-space operator, the zero-filled start image and sigma; the volume
  goes through the core's slice-wise windowing back-end
  (:func:`restore_core.engine.windows.slices.restore_slicewise`).

Training: 2D slices of the NIfTI volumes in the data folder, normalised per
volume; LR = in-plane k-space truncation plus Rician noise of a random sigma
in ``train.noise_sigma`` (a fraction of the normalisation range).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from restore_core.context import RunContext
from restore_core.diffusion.start import estimate_noise_sigma
from restore_core.engine.plan import SamplingPlan, run_plan
from restore_core.engine.sr_method import DiffusionMethod
from restore_core.engine.zero_shot import ZeroShotMethod
from restore_core.engine.sr_model import SRDiffusionModel
from restore_core.engine.windows.slices import BatchSampler, normalise, restore_slicewise, robust_range
from restore_core.errors import ConfigError, UsageError
from restore_core.sample import Sample
from restore_mri.degradations import rician
from restore_mri.kspace import kspace_truncate
from restore_mri.kspace_consistency import KSpaceTruncation
from restore_mri.nifti import header_slice_axis
from restore_mri.scale import parse_mri_scale, parse_slice_axis, scaled_length

CHECKPOINTS = Path(__file__).with_name("checkpoints")


# -- sampling ------------------------------------------------------------------------------
def estimate_sigma(lr: torch.Tensor) -> float:
    """Noise std (model units) of LR slices ``(S, 1, h, w)``: median over slices of the Haar-MAD estimate."""
    per_slice = estimate_noise_sigma(lr.double(), 2)
    return float(per_slice.median())


def consistency_weight(cfg: DictConfig, sigma: float) -> float:
    """``consistency.lam``: a number, or ``auto`` = 1 for clean inputs and ``noisy_lam`` for noisy ones."""
    section = cfg.get("consistency") or {}
    lam = section.get("lam", "auto")
    if isinstance(lam, str):
        if lam.strip().lower() != "auto":
            raise ConfigError(f"consistency.lam must be a number in [0, 1] or auto, got '{lam}'")
        return 1.0 if sigma <= float(section.get("clean_sigma", 0.01)) else float(section.get("noisy_lam", 0.5))
    lam = float(lam)
    if not 0.0 <= lam <= 1.0:
        raise ConfigError(f"consistency.lam must lie in [0, 1], got {lam}")
    return lam


def sample_r2d2(
    model: SRDiffusionModel,
    plan: SamplingPlan,
    lr: torch.Tensor,
    factors: tuple[float, float],
    generator: torch.Generator,
    sigma: float,
    lam: float = 1.0,
    progress: Any = None,
) -> torch.Tensor:
    """Denoise and super-resolve LR slices ``(B, 1, h, w)`` in model units; returns ``(B, 1, H, W)``.

    Starts from the zero-filled input ``A^+ y`` at noise level ``sigma`` and
    keeps the measured k-space centre (weight ``lam``) at every step.  Not
    clamped, so with ``lam = 1`` the output's k-space centre is exactly ``lr``'s.
    """
    hr_size = tuple(scaled_length(int(n), float(f)) for n, f in zip(lr.shape[2:], factors))
    operator = KSpaceTruncation(factors, hr_size=hr_size, lr_size=lr.shape[2:])
    return run_plan(
        plan, model, lr, hr_size, generator, operator=operator, start_image=operator.A_pinv(lr),
        sigma=float(sigma), step_params={"lam": lam}, progress=progress,
    )


# -- the method ----------------------------------------------------------------------------
def _slice_axis(sample: Sample | None, cfg: DictConfig) -> int:
    return parse_slice_axis(cfg.get("slice_axis"), header_slice_axis(sample) if sample is not None else None)


def in_plane_factors(sample: Sample, cfg: DictConfig) -> tuple[int, tuple[float, float]]:
    """``(slice_axis, (f_a, f_b))`` of a run; a through-plane factor other than 1 is refused."""
    axis = _slice_axis(sample, cfg)
    factors = parse_mri_scale(cfg.scale, axis)
    if factors[axis] != 1:
        raise UsageError(
            f"method '{cfg.method}' super-resolves in-plane only; the slice axis {axis} has factor {factors[axis]:g} "
            "(use --scale s or a factor of 1 on the slice axis)"
        )
    plane = tuple(f for a, f in enumerate(factors) if a != axis)
    return axis, (plane[0], plane[1])


def volume_slices(sample: Sample, cfg: DictConfig) -> list[torch.Tensor]:
    """Every slice (along the slice axis) of every frame of a volume, normalised per frame, as (1, H, W)."""
    percentiles = tuple(cfg.get("r2d2", {}).get("percentiles", (0.5, 99.5)))
    axis = _slice_axis(sample, cfg)
    slices: list[torch.Tensor] = []
    for frame in sample.data:
        model_units = normalise(frame, robust_range(frame, percentiles))
        for plane in np.moveaxis(model_units, axis, 0):
            if float(plane.max() - plane.min()) > 1e-6:  # constant slices teach nothing
                slices.append(torch.from_numpy(np.ascontiguousarray(plane))[None])
    return slices


def restore_r2d2(method: Any, sample: Sample, cfg: DictConfig, context: RunContext) -> Sample:
    """R2D2+'s slice-wise restoration with ``method``'s model and plan (conditional or unconditional prior)."""
    axis, factors = in_plane_factors(sample, cfg)
    loaded = method.load(cfg, 1, context)
    model = loaded.model
    if model.process != "gaussian":
        raise ConfigError(f"method '{method.name}' needs a Gaussian diffusion (diffusion.process: gaussian)")
    plan = method.plan(cfg, loaded, context)
    section = cfg.get("r2d2") or {}

    def prepare(index: int, slices: torch.Tensor) -> BatchSampler:
        sigma = plan.sigma if plan.sigma is not None else estimate_sigma(slices)
        lam = consistency_weight(cfg, sigma)
        if not context.quiet:
            context.log(f"{method.name}: frame {index}: noise sigma {sigma:.4g} (model units), k-space weight {lam:g}")
        return lambda lr, span, generator: sample_r2d2(model, plan, lr, factors, generator, sigma, lam)

    return restore_slicewise(
        sample, axis, prepare, context, percentiles=tuple(section.get("percentiles", (0.5, 99.5))),
        batch_slices=int(section.get("batch_slices", 8)), clip=bool(section.get("clip", True)),
    )


class R2D2Method(DiffusionMethod):
    """R2D2+: slice-wise denoising + in-plane super-resolution by regularised reverse diffusion."""

    name = "r2d2"
    spatial_dims = 2
    checkpoint_dir = CHECKPOINTS
    plugin = "mri"

    # -- training ------------------------------------------------------------------------
    def degradation(self, cfg: DictConfig, scale: int, context: Any = None) -> Any:
        """k-space truncation by ``scale``, then Rician noise of a random sigma in ``train.noise_sigma``.

        Sigma is a fraction of the normalisation range (model units / 2); the
        noise is added to the magnitude in [0, 1] units and mapped back to [-1, 1].
        """
        low, high = (float(v) for v in cfg.train.get("noise_sigma", [0.0, 0.0]))
        if not 0.0 <= low <= high:
            raise ConfigError(f"train.noise_sigma must be [low, high] with 0 <= low <= high, got [{low}, {high}]")
        factor = float(scale)

        def degrade(hr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
            lr = kspace_truncate(hr, (factor, factor), (hr.ndim - 2, hr.ndim - 1))
            if high <= 0.0:
                return lr
            u = torch.rand(lr.shape[0], generator=generator, dtype=torch.float64).to(lr.dtype)
            sigma = (low + (high - low) * u).view(-1, *([1] * (lr.ndim - 1))).to(lr.device)
            return rician((lr + 1.0) / 2.0, sigma, generator) * 2.0 - 1.0

        return degrade

    def training_tensors(self, sample: Sample, cfg: DictConfig) -> list[torch.Tensor]:
        return volume_slices(sample, cfg)

    # -- inference -----------------------------------------------------------------------
    def restore(self, sample: Sample, cfg: DictConfig, context: RunContext) -> Sample:
        return restore_r2d2(self, sample, cfg, context)


class R2D2ZeroShot(ZeroShotMethod):
    """R2D2+ as its paper describes it: an UNCONDITIONAL prior (``--weights`` or the shipped MRI prior),
    the chain started from the noisy zero-filled input at its noise level, and a soft low-frequency
    regularisation (``consistency.lam`` ≈ 0.03).  ``r2d2`` is the shipped conditional variant."""

    name = "r2d2-zs"
    spatial_dims = 2
    checkpoint_dir = CHECKPOINTS
    plugin = "mri"

    def training_tensors(self, sample: Sample, cfg: DictConfig) -> list[torch.Tensor]:
        return volume_slices(sample, cfg)

    def restore(self, sample: Sample, cfg: DictConfig, context: RunContext) -> Sample:
        return restore_r2d2(self, sample, cfg, context)
