"""Building blocks of the ADM U-Net family, with the published checkpoints' parameter names.

The "ablated diffusion model" (ADM) U-Net of Dhariwal & Nichol, *Diffusion
Models Beat GANs on Image Synthesis* (NeurIPS 2021), itself grown from the
improved-DDPM U-Net of Nichol & Dhariwal, *Improved Denoising Diffusion
Probabilistic Models* (ICML 2021), is the backbone of many published
restoration models (guided-diffusion, DPS, AT-DDPM, DifFace, DisC-Diff,
ResShift, ...).  Their checkpoints all use the same sub-module names, fixed
by ``guided_diffusion/unet.py`` and ``guided_diffusion/nn.py`` of
https://github.com/openai/guided-diffusion (commit
22e0df8183507e13a7813f8d38d51b072ca1e67c).  This module re-implements those
blocks with torch primitives so that a published ``state_dict`` loads with
``strict=True``:

- :class:`ResBlock` -> ``in_layers.{0: norm, 2: conv}``, ``emb_layers.1``
  (linear), ``out_layers.{0: norm, 3: conv}``, ``skip_connection`` (only when
  the channel count changes); optional up/down-sampling inside the block and
  FiLM-style "scale-shift" conditioning on the timestep embedding;
- :class:`AttentionBlock` -> ``norm``, ``qkv`` (1-D conv), ``proj_out``
  (1-D conv); both head layouts of the reference ("legacy": heads split
  before q/k/v; "new order": q/k/v split before heads);
- :class:`Upsample` -> ``conv``; :class:`Downsample` -> ``op``;
- :class:`GroupNorm32` (32 groups, computed in float32), :func:`normalization`,
  :func:`timestep_embedding` (sinusoidal, ``[cos | sin]``), :func:`zero_module`,
  :func:`conv_nd`, :func:`avg_pool_nd`, :class:`TimestepBlock`,
  :class:`TimestepEmbedSequential`.

The public names of this module are stable: other architecture modules of
:mod:`restore_core.published` (guided-diffusion, DifFace, DisC-Diff, ResShift's
Swin U-Net) import them.

Gradient checkpointing (``use_checkpoint``) uses :func:`torch.utils.checkpoint.checkpoint`
and only while gradients are being recorded; it never changes a forward value.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint as _torch_checkpoint

__all__ = [
    "AttentionBlock",
    "Downsample",
    "GroupNorm32",
    "ResBlock",
    "TimestepBlock",
    "TimestepEmbedSequential",
    "Upsample",
    "avg_pool_nd",
    "conv_nd",
    "convert_conv_dtype",
    "maybe_checkpoint",
    "normalization",
    "qkv_attention",
    "timestep_embedding",
    "zero_module",
]


# ----------------------------------------------------------------------------- primitives

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_AVG_POOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}


def conv_nd(dims: int, *args, **kwargs) -> nn.Module:
    """``nn.Conv{dims}d(*args, **kwargs)`` for ``dims`` in 1, 2, 3."""
    if dims not in _CONV:
        raise ValueError(f"dims must be 1, 2 or 3, got {dims!r}")
    return _CONV[dims](*args, **kwargs)


def avg_pool_nd(dims: int, *args, **kwargs) -> nn.Module:
    """``nn.AvgPool{dims}d(*args, **kwargs)`` for ``dims`` in 1, 2, 3."""
    if dims not in _AVG_POOL:
        raise ValueError(f"dims must be 1, 2 or 3, got {dims!r}")
    return _AVG_POOL[dims](*args, **kwargs)


def zero_module(module: nn.Module) -> nn.Module:
    """``module`` with every parameter set to zero (ADM's initialisation of residual output layers)."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.zero_()
    return module


class GroupNorm32(nn.GroupNorm):
    """Group normalisation evaluated in float32 and cast back to the input's dtype (mixed-precision safe)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).to(x.dtype)


def normalization(channels: int) -> GroupNorm32:
    """ADM's normalisation layer: :class:`GroupNorm32` with 32 groups over ``channels``."""
    return GroupNorm32(32, channels)


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding ``[N, dim]`` of (possibly fractional) timesteps ``[N]``.

    Frequencies ``max_period ** (-i / (dim // 2))`` for ``i < dim // 2``; the
    cosines come first, then the sines; an odd ``dim`` is padded with one zero
    column (the layout of the published ADM checkpoints).
    """
    half = dim // 2
    # exp(-log(P) * i / half), evaluated in this order for the reference's rounding.
    frequencies = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    angles = timesteps[:, None].float() * frequencies.to(timesteps.device)[None]
    embedding = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)
    if dim % 2:
        embedding = F.pad(embedding, (0, 1))
    return embedding


def maybe_checkpoint(function, *inputs: torch.Tensor, enabled: bool):
    """``function(*inputs)``, recomputed in the backward pass (activation checkpointing) when ``enabled`` and grads are on."""
    if enabled and torch.is_grad_enabled():
        return _torch_checkpoint(function, *inputs, use_reentrant=False)
    return function(*inputs)


def convert_conv_dtype(module: nn.Module, dtype: torch.dtype) -> None:
    """Cast the weights and biases of every convolution under ``module`` to ``dtype`` (ADM's fp16 torso)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            layer.weight.data = layer.weight.data.to(dtype)
            if layer.bias is not None:
                layer.bias.data = layer.bias.data.to(dtype)


# ----------------------------------------------------------------------------- sequential with embeddings


class TimestepBlock(nn.Module):
    """A module whose ``forward(x, emb)`` also takes the timestep embedding."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError


class TimestepEmbedSequential(nn.Sequential, TimestepBlock):
    """``nn.Sequential`` that hands ``emb`` to the children that are :class:`TimestepBlock` s."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = layer(x, emb) if isinstance(layer, TimestepBlock) else layer(x)
        return x


# ----------------------------------------------------------------------------- resampling


def _double_spatial(x: torch.Tensor, dims: int) -> torch.Tensor:
    """Nearest-neighbour 2x upsampling of the spatial axes (for 3-D signals, the inner two axes only)."""
    if dims == 3:
        return F.interpolate(x, (x.shape[2], x.shape[3] * 2, x.shape[4] * 2), mode="nearest")
    return F.interpolate(x, scale_factor=2, mode="nearest")


class Upsample(nn.Module):
    """Nearest 2x upsampling, then (``use_conv``) a 3x3 convolution named ``conv``."""

    def __init__(self, channels: int, use_conv: bool, dims: int = 2, out_channels: Optional[int] = None):
        super().__init__()
        self.channels = channels
        self.out_channels = out_channels or channels
        self.use_conv = use_conv
        self.dims = dims
        if use_conv:
            self.conv = conv_nd(dims, channels, self.out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.channels:
            raise ValueError(f"Upsample expects {self.channels} channels, got {x.shape[1]}")
        x = _double_spatial(x, self.dims)
        return self.conv(x) if self.use_conv else x


class Downsample(nn.Module):
    """2x downsampling named ``op``: a stride-2 3x3 convolution (``use_conv``) or 2x2 average pooling.

    For 3-D signals only the inner two axes are reduced.
    """

    def __init__(self, channels: int, use_conv: bool, dims: int = 2, out_channels: Optional[int] = None):
        super().__init__()
        self.channels = channels
        self.out_channels = out_channels or channels
        self.use_conv = use_conv
        self.dims = dims
        stride = (1, 2, 2) if dims == 3 else 2
        if use_conv:
            self.op = conv_nd(dims, channels, self.out_channels, 3, stride=stride, padding=1)
        else:
            if self.out_channels != channels:
                raise ValueError("average-pool downsampling cannot change the channel count")
            self.op = avg_pool_nd(dims, kernel_size=stride, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.channels:
            raise ValueError(f"Downsample expects {self.channels} channels, got {x.shape[1]}")
        return self.op(x)


# ----------------------------------------------------------------------------- residual block


class ResBlock(TimestepBlock):
    """ADM residual block conditioned on a timestep embedding.

    ``h = conv(SiLU(norm(x)))`` (``in_layers``; with ``up``/``down`` the
    resampling sits between the activation and the convolution, and the skip
    path is resampled the same way), then the embedding projection
    ``emb_layers`` is either added to ``h`` or, with ``use_scale_shift_norm``,
    applied as ``norm(h) * (1 + scale) + shift``; then
    ``conv(dropout(SiLU(.)))`` (``out_layers``, zero-initialised), plus the
    skip path (identity, or ``skip_connection``: a 3x3 conv when ``use_conv``,
    else 1x1, when the channel count changes).
    """

    def __init__(
        self,
        channels: int,
        emb_channels: int,
        dropout: float,
        out_channels: Optional[int] = None,
        use_conv: bool = False,
        use_scale_shift_norm: bool = False,
        dims: int = 2,
        use_checkpoint: bool = False,
        up: bool = False,
        down: bool = False,
    ):
        super().__init__()
        self.channels = channels
        self.emb_channels = emb_channels
        self.dropout = dropout
        self.out_channels = out_channels or channels
        self.use_conv = use_conv
        self.use_checkpoint = use_checkpoint
        self.use_scale_shift_norm = use_scale_shift_norm
        out = self.out_channels

        self.in_layers = nn.Sequential(normalization(channels), nn.SiLU(), conv_nd(dims, channels, out, 3, padding=1))
        self.updown = up or down
        if up:
            self.h_upd, self.x_upd = Upsample(channels, False, dims), Upsample(channels, False, dims)
        elif down:
            self.h_upd, self.x_upd = Downsample(channels, False, dims), Downsample(channels, False, dims)
        else:
            self.h_upd = self.x_upd = nn.Identity()
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out if use_scale_shift_norm else out))
        self.out_layers = nn.Sequential(
            normalization(out),
            nn.SiLU(),
            nn.Dropout(p=dropout),
            zero_module(conv_nd(dims, out, out, 3, padding=1)),
        )
        if out == channels:
            self.skip_connection = nn.Identity()
        elif use_conv:
            self.skip_connection = conv_nd(dims, channels, out, 3, padding=1)
        else:
            self.skip_connection = conv_nd(dims, channels, out, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        return maybe_checkpoint(self._forward, x, emb, enabled=self.use_checkpoint)

    def _forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        norm_act, conv = self.in_layers[:-1], self.in_layers[-1]
        h = norm_act(x)
        if self.updown:
            h, x = self.h_upd(h), self.x_upd(x)
        h = conv(h)
        film = self.emb_layers(emb).to(h.dtype)
        film = film.reshape(*film.shape, *([1] * (h.ndim - film.ndim)))
        if self.use_scale_shift_norm:
            scale, shift = film.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[1:](h)
        else:
            h = self.out_layers(h + film)
        return self.skip_connection(x) + h


# ----------------------------------------------------------------------------- attention


def qkv_attention(qkv: torch.Tensor, heads: int, legacy: bool) -> torch.Tensor:
    """Multi-head dot-product self-attention on a packed ``[N, 3*H*C, T]`` tensor -> ``[N, H*C, T]``.

    ``legacy``: the channel axis is ``heads x (q, k, v) x C`` (split heads
    first, then q/k/v); otherwise ``(q, k, v) x heads x C``.  Queries and keys
    are each scaled by ``C ** -0.25`` before the product (as the reference, for
    fp16 range); the softmax runs in float32.
    """
    batch, width, length = qkv.shape
    if width % (3 * heads):
        raise ValueError(f"qkv width {width} is not divisible by 3 x {heads} heads")
    ch = width // (3 * heads)
    if legacy:
        q, k, v = qkv.reshape(batch * heads, 3 * ch, length).split(ch, dim=1)
    else:
        q, k, v = (part.reshape(batch * heads, ch, length) for part in qkv.chunk(3, dim=1))
    scale = 1.0 / math.sqrt(math.sqrt(ch))
    logits = torch.bmm((q * scale).transpose(1, 2), k * scale)  # [B*H, T(query), S(key)]
    weights = torch.softmax(logits.float(), dim=-1).to(logits.dtype)
    out = torch.bmm(v, weights.transpose(1, 2))  # [B*H, C, T]
    return out.reshape(batch, heads * ch, length)


class AttentionBlock(nn.Module):
    """Spatial self-attention with a residual connection (``norm``, ``qkv``, ``proj_out``).

    The head count is ``channels // num_head_channels`` when
    ``num_head_channels != -1``, else ``num_heads``.
    ``use_new_attention_order`` selects the q/k/v-major layout of the packed
    projection (see :func:`qkv_attention`).  ``proj_out`` is zero-initialised.
    """

    def __init__(
        self,
        channels: int,
        num_heads: int = 1,
        num_head_channels: int = -1,
        use_checkpoint: bool = False,
        use_new_attention_order: bool = False,
    ):
        super().__init__()
        self.channels = channels
        if num_head_channels == -1:
            self.num_heads = num_heads
        else:
            if channels % num_head_channels:
                raise ValueError(f"channels {channels} are not divisible by num_head_channels {num_head_channels}")
            self.num_heads = channels // num_head_channels
        self.use_checkpoint = use_checkpoint
        self.legacy_order = not use_new_attention_order
        self.norm = normalization(channels)
        self.qkv = conv_nd(1, channels, channels * 3, 1)
        self.proj_out = zero_module(conv_nd(1, channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return maybe_checkpoint(self._forward, x, enabled=self.use_checkpoint)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, *spatial = x.shape
        flat = x.reshape(batch, channels, -1)
        attended = qkv_attention(self.qkv(self.norm(flat)), self.num_heads, self.legacy_order)
        return (flat + self.proj_out(attended)).reshape(batch, channels, *spatial)
