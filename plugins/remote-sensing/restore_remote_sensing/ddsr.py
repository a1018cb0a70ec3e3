"""DDSR: degradation-aware diffusion for blind remote-sensing super-resolution (Xu et al. 2023).

Blind SR: the LR was made by an unknown blur ``LR = (HR * k)↓s + n``.  DDSR
estimates ``k`` and conditions the reconstruction on the estimate:

* a kernel predictor reads the RRDB encodings of the LR and outputs the kernel
  as a PCA code (:mod:`restore_remote_sensing.kernel_pca`, basis fitted on
  random anisotropic Gaussian kernels as in IKC/DAN);
* the conditional DDPM reconstructs HR from noise conditioned on up(LR)
  (concatenated), the RRDB encodings and the code stretched to maps
  (:mod:`restore_remote_sensing.ddsr_model`).

Training synthesises LR with random anisotropic Gaussian kernels, ×s
downsampling and Gaussian noise (``anisotropic_gaussian``; the kernels travel
with the batch).  Our choices for remote sensing: the kernel is the PSF and
the downsampling is ×s area (pixel integration) rather than IKC's bicubic,
and the widths are log-uniform so that sharp PSFs are as common as blurry
ones (details and measurements: ``configs/remote-sensing/ddsr.yaml``,
docs/training.md).  **The kernel predictor is trained jointly** with the
denoiser: ``L = L_diffusion + λ_k ‖ĉ − c‖²`` with ``c`` the true kernel's code
(the code loss also trains the shared RRDB encoder).  The denoiser is
conditioned on the true code for a fraction ``1 − p_predicted_code`` of the
samples (teacher forcing, as IKC trains its SFTMD on true kernels) and on the
detached predicted code otherwise, so it learns to use the code and to
tolerate the predictor's errors; at inference it sees the predicted code only.
A second stage (``ddsr_loss(..., diffusion_weight=0)`` with
``train.trainable: [kernel_predictor]``) refines the predictor alone on
larger patches, where a blur can be told apart.

As for DMDC (see :mod:`restore_remote_sensing.dmdc`), short CPU training made
us diffuse the residual HR − up(LR) with an x0-predicting network in the
one-level Haar domain.  The shipped config has no consistency step: the blur
is unknown, so no fixed measurement operator holds.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from restore_core.engine.loading import plain
from restore_core.engine.training import LOSSES, TrainSettings, noisy_input, regression_target, trainable_names
from restore_core.errors import ConfigError
from restore_remote_sensing.ddsr_model import DDSRModel
from restore_remote_sensing.degradations import AnisotropicGaussian
from restore_remote_sensing.diffusion_method import RSDiffusionSR


def kernel_degradation(scale: int, **params: Any) -> Callable[..., dict[str, torch.Tensor]]:
    """Random anisotropic Gaussian blur + ×s downsampling + noise; returns ``{"lr", "kernel"}``."""
    family = AnisotropicGaussian(scale, **params)

    def degrade(hr: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        out = family.sample(hr, generator)
        return {"lr": out.lr, "kernel": out.kernels.to(hr.dtype)}

    return degrade


def kernel_code_loss(
    model: DDSRModel, lr: torch.Tensor, kernels: torch.Tensor, features: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MSE between the predicted and the true (whitened) PCA codes; returns (loss, predicted, true) codes.

    ``features``: the RRDB encodings of ``lr`` when the caller has them already.
    """
    features = model.encoder(lr) if features is None else features
    predicted = model.predict_code(features)
    true = model.kernel_pca.encode(kernels)
    return F.mse_loss(predicted, true), predicted, true


def ddsr_loss(kernel_weight: float, p_predicted_code: float, diffusion_weight: float = 1.0) -> Callable[..., Any]:
    """A :data:`restore_core.engine.training.LossFn` for DDSR's joint training (module docstring).

    ``diffusion_weight = 0`` trains the kernel predictor alone (no denoiser
    pass): the refinement stage, with ``train.trainable: [kernel_predictor]``.
    """

    def loss_fn(model: DDSRModel, batch: tuple, generator: torch.Generator, settings: TrainSettings) -> tuple[torch.Tensor, dict[str, float]]:
        lr, hr, extras = batch
        features = model.encoder(lr)
        code_loss, predicted, true = kernel_code_loss(model, lr, extras["kernel"], features)
        if diffusion_weight == 0:
            return kernel_weight * code_loss, {"kernel": code_loss.item()}
        use_predicted = (torch.rand(lr.shape[0], generator=generator) < p_predicted_code).to(lr.device)[:, None]
        code = torch.where(use_predicted, predicted.detach(), true)
        cond = model.condition_from(lr, tuple(hr.shape[2:]), features, code)
        draw = noisy_input(model, lr, hr, generator, settings, cond=cond)
        output = model.denoise(draw.x_t, draw.t, draw.cond)
        diffusion = LOSSES[settings.loss](output, regression_target(model, draw.x0, draw.noise, draw.t))
        return diffusion_weight * diffusion + kernel_weight * code_loss, {"diffusion": diffusion.item(), "kernel": code_loss.item()}

    return loss_fn


class DDSR(RSDiffusionSR):
    """DDSR on RGB bands of remote-sensing rasters (``configs/remote-sensing/ddsr.yaml``)."""

    name = "ddsr"

    def build_model(self, cfg: DictConfig, channels: int, networks: Any = None) -> DDSRModel:
        networks = networks if networks is not None else self.registry()
        return DDSRModel(plain(cfg.model), plain(cfg.diffusion), self.spatial_dims, channels, networks=networks)

    def degradation(self, cfg: DictConfig, scale: int, context: Any = None) -> Any:
        """DDSR's blind degradation (random anisotropic PSF, ×s downsampling, noise; ``train.degradation_params``)."""
        if str(cfg.train.get("degradation", "anisotropic_gaussian")) != "anisotropic_gaussian":
            raise ConfigError(f"ddsr trains on anisotropic_gaussian (its kernel codes are the point); train.degradation={cfg.train.degradation} is not supported")
        return kernel_degradation(scale, **dict(plain(cfg.train.degradation_params) or {}))

    def training_loss(self, cfg: DictConfig) -> Any:
        train = cfg.train
        weights = {key: float(train.get(key, 1.0)) for key in ("kernel_weight", "diffusion_weight")}
        negative = [key for key, value in weights.items() if value < 0]
        if negative:
            raise ConfigError(f"train.{negative[0]} must be >= 0, got {weights[negative[0]]}")
        if weights["diffusion_weight"] == 0 and trainable_names(train.get("trainable")) != ("kernel_predictor",):
            # the code loss alone would move the shared RRDB encoder under a denoiser that no longer adapts
            raise ConfigError("train.diffusion_weight=0 trains the kernel predictor alone: set train.trainable=[kernel_predictor]")
        return ddsr_loss(weights["kernel_weight"], float(train.p_predicted_code), weights["diffusion_weight"])


__all__ = ["DDSR", "DDSRModel", "kernel_degradation", "kernel_code_loss", "ddsr_loss"]
