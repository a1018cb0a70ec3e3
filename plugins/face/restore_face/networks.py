"""The restoration network of DifFace's diffused estimator: a residual MONAI U-Net.

DifFace (Yue & Loy 2024, sec. 3.2) starts its reverse chain from the output of
any restoration network ``f(y)`` (the paper's is SwinIR trained with L1 on the
blind degradation), diffused to step N.  Here ``f(y) = y + UNet(y)``
(MONAI's ``UNet`` with residual units, Kerfoot et al. 2018), small enough to
train on a CPU; a predicted correction keeps the input's colours when it has
little to add.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class ResidualEstimator(nn.Module):
    """``f(y) = y + UNet(y)`` on (B, C, H, W) in [-1, 1]; H and W multiples of the product of ``strides``."""

    def __init__(
        self,
        in_channels: int = 3,
        channels: Sequence[int] = (32, 64, 128, 128, 128),
        strides: Sequence[int] = (2, 2, 2, 2),
        num_res_units: int = 2,
    ) -> None:
        super().__init__()
        from monai.networks.nets import UNet

        self.in_channels = int(in_channels)
        self.multiple = 1
        for stride in strides:
            self.multiple *= int(stride)
        self.unet = UNet(
            spatial_dims=2, in_channels=in_channels, out_channels=in_channels, channels=tuple(channels),
            strides=tuple(strides), num_res_units=int(num_res_units), norm="instance",
        )

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if y.shape[-1] % self.multiple or y.shape[-2] % self.multiple:
            raise ValueError(f"the estimator takes sizes that are multiples of {self.multiple}, got {tuple(y.shape[-2:])}")
        return y + self.unet(y)


__all__ = ["ResidualEstimator"]
