"""RRDB trunk (ESRGAN) used as SRDiff's low-resolution encoder, 2D or 3D.

Wang et al. 2018, "ESRGAN: Enhanced Super-Resolution Generative Adversarial
Networks", sec. 3.1 / fig. 4: Residual-in-Residual Dense Blocks, each three
residual dense blocks with residual scaling. Li et al. 2022 (SRDiff, sec. 3.3)
run the trunk on the LR image and hand the hidden states of the blocks to the
denoiser.
"""

from __future__ import annotations

import torch
from monai.networks.layers.factories import Conv
from torch import nn


def _scaled_kaiming_init(convs: list[nn.Module], scale: float) -> None:
    """Kaiming-normal init times ``scale`` (ESRGAN sec. 3.1: small init for deep residual nets)."""
    for conv in convs:
        nn.init.kaiming_normal_(conv.weight)
        conv.weight.data.mul_(scale)
        if conv.bias is not None:
            conv.bias.data.zero_()


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convolutions with a scaled residual (ESRGAN fig. 4)."""

    def __init__(
        self,
        spatial_dims: int,
        num_features: int,
        growth_channels: int,
        residual_scale: float = 0.2,
        negative_slope: float = 0.2,
        init_scale: float = 0.1,
    ) -> None:
        super().__init__()
        conv = Conv[Conv.CONV, spatial_dims]
        nf, gc = num_features, growth_channels
        self.conv1 = conv(nf, gc, 3, padding=1)
        self.conv2 = conv(nf + gc, gc, 3, padding=1)
        self.conv3 = conv(nf + 2 * gc, gc, 3, padding=1)
        self.conv4 = conv(nf + 3 * gc, gc, 3, padding=1)
        self.conv5 = conv(nf + 4 * gc, nf, 3, padding=1)
        self.lrelu = nn.LeakyReLU(negative_slope=negative_slope, inplace=True)
        self.residual_scale = residual_scale
        _scaled_kaiming_init([self.conv1, self.conv2, self.conv3, self.conv4, self.conv5], init_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x + residual_scale * conv5([x, x1, x2, x3, x4])``."""
        dense = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            dense.append(self.lrelu(conv(torch.cat(dense, dim=1))))
        return x + self.residual_scale * self.conv5(torch.cat(dense, dim=1))


class RRDB(nn.Module):
    """Three residual dense blocks inside one more scaled residual (ESRGAN fig. 4)."""

    def __init__(
        self,
        spatial_dims: int,
        num_features: int,
        growth_channels: int,
        residual_scale: float = 0.2,
        negative_slope: float = 0.2,
        init_scale: float = 0.1,
    ) -> None:
        super().__init__()
        block_args = (spatial_dims, num_features, growth_channels, residual_scale, negative_slope, init_scale)
        self.rdb1 = ResidualDenseBlock(*block_args)
        self.rdb2 = ResidualDenseBlock(*block_args)
        self.rdb3 = ResidualDenseBlock(*block_args)
        self.residual_scale = residual_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x + residual_scale * rdb3(rdb2(rdb1(x)))``."""
        return x + self.residual_scale * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBEncoder(nn.Module):
    """ESRGAN's RRDB trunk without the upsampler, returning SRDiff's hidden features.

    Hidden states, all at LR resolution with ``num_features`` channels each:
    ``h_1 .. h_N`` the outputs of the ``N = num_blocks`` RRDBs, then
    ``h_{N+1} = conv_first(lr) + conv_body(h_N)`` (the trunk's long skip).
    ``forward`` returns every ``feature_stride``-th of them counting so that
    the last is always kept (``hidden[feature_stride - 1 :: feature_stride]``),
    concatenated on channels. SRDiff uses ``num_blocks=8, feature_stride=3``
    (3 maps); the default ``feature_stride=1`` keeps all ``num_blocks + 1``.
    ``out_channels = num_features * ((num_blocks + 1) // feature_stride)``.

    Key names follow BasicSR's ``RRDBNet`` (``conv_first``,
    ``body.N.rdbK.convM``, ``conv_body``) so published weights map directly;
    ESRGAN/SRDiff checkpoints use the older names, mapped by renaming
    ``RRDB_trunk.`` -> ``body.``, ``.RDBk.`` -> ``.rdbk.``, ``trunk_conv`` ->
    ``conv_body``. Their upsampler keys (``conv_up*``/``upconv*``, ``conv_hr``/
    ``HRconv``, ``conv_last``) have no counterpart here and are dropped.
    SRDiff's encoder maps its input from [-1, 1] to [0, 1] first; that
    normalisation is the method's job, not this module's.
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        num_features: int = 32,
        num_blocks: int = 2,
        growth_channels: int = 16,
        feature_stride: int = 1,
        residual_scale: float = 0.2,
        negative_slope: float = 0.2,
        init_scale: float = 0.1,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {num_blocks}")
        if not 1 <= feature_stride <= num_blocks + 1:
            raise ValueError(f"feature_stride must be in [1, num_blocks + 1], got {feature_stride}")
        conv = Conv[Conv.CONV, spatial_dims]
        self.spatial_dims = spatial_dims
        self.feature_stride = feature_stride
        self.out_channels = num_features * ((num_blocks + 1) // feature_stride)
        self.conv_first = conv(in_channels, num_features, 3, padding=1)
        self.body = nn.Sequential(
            *(
                RRDB(spatial_dims, num_features, growth_channels, residual_scale, negative_slope, init_scale)
                for _ in range(num_blocks)
            )
        )
        self.conv_body = conv(num_features, num_features, 3, padding=1)

    def hidden_states(self, lr: torch.Tensor) -> list[torch.Tensor]:
        """All ``num_blocks + 1`` hidden states ``h_1 .. h_{N+1}`` (see class docstring)."""
        first = self.conv_first(lr)
        hidden = []
        h = first
        for block in self.body:
            h = block(h)
            hidden.append(h)
        hidden.append(first + self.conv_body(h))
        return hidden

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, *lr_spatial) -> (B, out_channels, *lr_spatial)``."""
        if lr.ndim != self.spatial_dims + 2:
            raise ValueError(f"expected a {self.spatial_dims + 2}-D tensor, got shape {tuple(lr.shape)}")
        hidden = self.hidden_states(lr)
        return torch.cat(hidden[self.feature_stride - 1 :: self.feature_stride], dim=1)
