"""A conditional diffusion super-resolution model assembled from config.

One class covers the survey's two conditional families by configuration:

* SR3 (Saharia et al. 2021): the target is the HR image (``space: pixel``)
  and the upsampled LR is concatenated to the noisy state (``concat_lr``).
* SRDiff (Li et al. 2022): the target is the residual HR - up(LR)
  (``space: residual``, SRDiff eq. 5) and an RRDB LR encoder's features are
  injected into the denoiser (``encoder``).

``wavelet: true`` runs the denoiser on the one-level Haar transform of the
target (and of the condition), the wavelet domain of survey sec. 4.3.

``diffusion.process: residual_shift`` replaces the Gaussian forward process by
ResShift's (Yue et al. 2023): a chain of ``diffusion.train_steps`` (<= 15)
steps that shifts the residual from y0 = up(LR) to the HR image, with an
x0-predicting network.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from restore_core.diffusion.residual_shift import ResidualShiftSchedule, residual_shift_schedule, rs_scale_model_input
from restore_core.diffusion.schedules import NoiseSchedule, make_schedule
from restore_core.diffusion.spaces import PixelSpace, ResidualSpace, WaveletSpace
from restore_core.diffusion.wavelet import haar_forward
from restore_core.engine.sampling import Condition
from restore_core.nets import build_denoiser, build_encoder

SPACES = {"pixel": PixelSpace, "residual": ResidualSpace}
UPSAMPLING = {2: "bicubic", 3: "trilinear"}


def upsample(lr: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Bicubic (2D) or trilinear (3D) interpolation to ``size``: the up(LR) of SR3/SRDiff."""
    mode = UPSAMPLING[lr.ndim - 2]
    return F.interpolate(lr, size=size, mode=mode, align_corners=False)


class SRDiffusionModel(nn.Module):
    """Denoiser (+ optional LR encoder) with its corruption space and noise schedule."""

    def __init__(
        self, model_cfg: Mapping[str, Any], diffusion_cfg: Mapping[str, Any], spatial_dims: int, channels: int, networks: Any = None
    ) -> None:
        """``networks``: the registry that denoisers and encoders are looked up in by name (None: the core's)."""
        super().__init__()
        self.networks = networks
        self.spatial_dims = spatial_dims
        self.channels = channels
        self.concat_lr = bool(model_cfg.get("concat_lr", True))
        self.wavelet = bool(model_cfg.get("wavelet", False))
        self.prediction_type = str(model_cfg.get("prediction", "epsilon"))
        space = SPACES[str(model_cfg.get("space", "pixel"))]()
        self.space = WaveletSpace(space, spatial_dims) if self.wavelet else space
        factor = 2**spatial_dims if self.wavelet else 1
        encoder_cfg = model_cfg.get("encoder")
        self.encoder = build_encoder({**encoder_cfg, "spatial_dims": spatial_dims, "in_channels": channels}, networks) if encoder_cfg else None
        denoiser_cfg = dict(model_cfg["denoiser"])
        denoiser_cfg.update(
            spatial_dims=spatial_dims,
            target_channels=channels * factor,
            cond_channels=channels * factor if self.concat_lr else 0,
            encoder_channels=self.encoder.out_channels if self.encoder is not None else 0,
        )
        self.target_channels = channels * factor
        self.denoiser = build_denoiser(denoiser_cfg, networks)
        self.process = str(diffusion_cfg.get("process", "gaussian"))
        self.schedule: NoiseSchedule | ResidualShiftSchedule
        if self.process == "residual_shift":
            if self.prediction_type != "sample" or not isinstance(space, PixelSpace):
                raise ValueError("the residual-shifting chain needs model.prediction=sample and model.space=pixel")
            self.schedule = residual_shift_schedule(
                int(diffusion_cfg.get("train_steps", 15)), kappa=float(diffusion_cfg.get("kappa", 2.0)), p=float(diffusion_cfg.get("p", 0.3))
            )
        elif self.process == "gaussian":
            self.schedule = make_schedule(str(diffusion_cfg.get("schedule", "cosine")), int(diffusion_cfg.get("train_steps", 1000)))
        else:
            raise ValueError(f"unknown diffusion.process '{self.process}'; choose gaussian or residual_shift")

    def condition(self, lr: torch.Tensor, hr_size: tuple[int, ...]) -> Condition:
        """Everything the denoiser conditions on, computed once per image (not per step)."""
        up_lr = upsample(lr, hr_size)
        tensors = {"up_lr": up_lr}
        if self.encoder is not None:
            tensors["features"] = self.encoder(lr)
        return Condition(tensors)

    def target_grid(self, hr_size: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(s // 2 for s in hr_size) if self.wavelet else hr_size

    def to_target(self, hr: torch.Tensor, cond: Condition) -> torch.Tensor:
        return self.space.to_target(hr, cond.tensors["up_lr"])

    def from_target(self, target: torch.Tensor, cond: Condition) -> torch.Tensor:
        return self.space.from_target(target, cond.tensors["up_lr"])

    def shift_origin(self, cond: Condition) -> torch.Tensor:
        """y0 of the residual-shifting chain: up(LR) in the target's domain."""
        return self.to_target(cond.tensors["up_lr"], cond)

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, cond: Condition | None) -> torch.Tensor:
        """The network output for noisy target ``x_t`` (eps, x0 or v, by ``prediction_type``)."""
        cond_input = None
        features = None
        if cond is not None:
            if self.concat_lr:
                up_lr = cond.tensors["up_lr"]
                cond_input = haar_forward(up_lr, self.spatial_dims) if self.wavelet else up_lr
            features = cond.tensors.get("features")
        if self.process == "residual_shift":
            x_t = rs_scale_model_input(x_t, t, self.schedule).to(x_t.dtype)  # type: ignore[arg-type]
        return self.denoiser(x_t, t, cond_input, features)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: Condition | None) -> torch.Tensor:
        return self.denoise(x_t, t, cond)


def hr_size_for(lr: torch.Tensor, scale: float | tuple[float, ...], wavelet: bool) -> tuple[int, ...]:
    """The HR grid for ``lr``; even sizes when the wavelet domain halves them."""
    scales = scale if isinstance(scale, tuple) else (scale,) * (lr.ndim - 2)
    size = tuple(int(round(s * f)) for s, f in zip(lr.shape[2:], scales))
    if wavelet and any(s % 2 for s in size):
        raise ValueError(f"the wavelet domain needs even output sizes, got {size}")
    return size


__all__ = ["SRDiffusionModel", "upsample", "hr_size_for"]
