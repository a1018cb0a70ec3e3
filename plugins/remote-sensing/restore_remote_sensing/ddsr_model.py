"""DDSR's network: an RRDB-encoder conditional diffusion model whose condition includes a predicted kernel code.

Xu et al. 2023 (DDSR, degradation-aware diffusion for blind remote-sensing
SR): a kernel predictor reads the LR encodings and estimates the degradation
as a PCA kernel code (:mod:`restore_remote_sensing.kernel_pca`); the code is
stretched to maps of the LR grid and concatenated to the RRDB encoder's
features (the dimensionality-stretching of SRMD/IKC), which the denoiser
receives as SRDiff-style injected features; up(LR) is also concatenated to
the noisy state.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from restore_core.engine.sampling import Condition
from restore_core.engine.sr_model import SRDiffusionModel, upsample
from restore_core.nets import build_denoiser
from restore_remote_sensing.kernel_pca import KernelPCA


class KernelPredictor(nn.Module):
    """LR encoder features ``(B, F, h, w)`` -> kernel code ``(B, code_dim)``: two convolutions, global pooling, a linear layer."""

    def __init__(self, in_channels: int, code_dim: int, width: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.2),
        )
        self.head = nn.Linear(width, code_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(features).mean(dim=(2, 3)))


def code_maps(code: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Stretch ``(B, d)`` codes to ``(B, d, *size)`` constant maps (SRMD's dimensionality stretching)."""
    return code.reshape(*code.shape, *([1] * len(size))).expand(*code.shape, *size)


class DDSRModel(SRDiffusionModel):
    """:class:`SRDiffusionModel` with an RRDB encoder, a kernel predictor and a PCA kernel basis.

    ``model.kernel``: ``code_dim``, ``kernel_size``, ``sigma_min``/``sigma_max``
    and ``sigma_sampling`` (the PCA's kernel family), ``pca_samples``, ``predictor_width``.
    """

    def __init__(
        self, model_cfg: Mapping[str, Any], diffusion_cfg: Mapping[str, Any], spatial_dims: int, channels: int, scale: int = 4,
        networks: Any = None,
    ) -> None:
        super().__init__(model_cfg, diffusion_cfg, spatial_dims, channels, networks)
        if self.encoder is None or spatial_dims != 2:
            raise ValueError("DDSR needs model.encoder (an RRDB LR encoder) and 2D data")
        kernel = dict(model_cfg["kernel"])
        self.code_dim = int(kernel["code_dim"])
        self.kernel_pca = KernelPCA(
            int(kernel["kernel_size"]), self.code_dim, scale, float(kernel["sigma_min"]),
            float(kernel["sigma_max"]), int(kernel["pca_samples"]), sigma_sampling=str(kernel.get("sigma_sampling", "uniform")),
        )
        self.kernel_predictor = KernelPredictor(self.encoder.out_channels, self.code_dim, int(kernel["predictor_width"]))
        # the denoiser sees [RRDB features, code maps]: rebuild it with the wider injection
        factor = 4 if self.wavelet else 1
        denoiser_cfg = dict(model_cfg["denoiser"])
        denoiser_cfg.update(
            spatial_dims=spatial_dims, target_channels=channels * factor,
            cond_channels=channels * factor if self.concat_lr else 0,
            encoder_channels=self.encoder.out_channels + self.code_dim,
        )
        self.denoiser = build_denoiser(denoiser_cfg, networks)

    def predict_code(self, features: torch.Tensor) -> torch.Tensor:
        """The kernel code estimated from LR encodings."""
        return self.kernel_predictor(features)

    def condition_from(self, lr: torch.Tensor, hr_size: tuple[int, ...], features: torch.Tensor, code: torch.Tensor) -> Condition:
        """up(LR) and [features, stretched code] for a given code (the predicted one, or in training the true one)."""
        joined = torch.cat([features, code_maps(code.to(features.dtype), tuple(features.shape[2:]))], dim=1)
        return Condition({"up_lr": upsample(lr, hr_size), "features": joined})

    def condition(self, lr: torch.Tensor, hr_size: tuple[int, ...], code: torch.Tensor | None = None) -> Condition:
        """The condition of sampling: the kernel code is predicted from the LR encodings unless given."""
        features = self.encoder(lr)
        if code is None:
            code = self.predict_code(features)
        return self.condition_from(lr, hr_size, features, code)
