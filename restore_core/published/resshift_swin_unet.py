"""ResShift's denoiser: an ADM U-Net whose attention layers are Swin-transformer stages.

Yue, Wang and Loy 2023, "ResShift: Efficient Diffusion Model for Image
Super-resolution by Residual Shifting" (NeurIPS 2023; journal version
arXiv:2403.07319), sec. 3/appendix: the denoiser is the ADM U-Net (Dhariwal &
Nichol 2021) working on the VQ-f4 latent, conditioned on the low-quality image
concatenated to its input, with every self-attention layer replaced by a stage
of window attention (Liu et al. 2021, "Swin Transformer"; as in SwinIR).

Reference: github.com/zsyOAOA/ResShift at commit
3ce1d81e8402fd50083809ae288a3977f6921bdd, class ``UNetModelSwin`` in
``models/unet.py`` with ``BasicLayer``/``SwinTransformerBlock``/
``WindowAttention``/``Mlp``/``PatchEmbed``/``PatchUnEmbed`` from
``models/swin_transformer.py``.  This module is an independent
re-expression; the ADM blocks (``ResBlock``, ``Downsample``, ``Upsample``,
``TimestepEmbedSequential``, GroupNorm32, the sinusoidal embedding) come from
:mod:`restore_core.published.adm_blocks`, whose parameter names ResShift's
``models/unet.py`` shares.  It matches:

* the constructor's keyword arguments (``image_size``, ``in_channels``,
  ``model_channels``, ``out_channels``, ``num_res_blocks`` (int or per level),
  ``attention_resolutions``, ``channel_mult``, ``swin_depth``,
  ``swin_embed_dim``, ``window_size``, ``mlp_ratio``, ``patch_norm``,
  ``cond_lq``, ``cond_mask``, ``lq_size``, ...);
* every state-dict key and shape, including the persistent buffers
  ``relative_position_index`` and (for shifted blocks) ``attn_mask`` that the
  published checkpoints carry, so they load with ``strict=True``;
* ``forward(x, timesteps, lq=None, mask=None)``.

Two behaviours of the reference are kept on purpose because the published
weights were trained with them: (1) the shifted-window attention mask is
recomputed from the input size on every call (the stored ``attn_mask``
buffer is never read: the reference compares a list with a tuple), and
(2) that mask is the reference's: its three bands run along the height axis
only, and inside each window it is read transposed (see :func:`_window_mask`).
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from restore_core.published.adm_blocks import (
    Downsample,
    ResBlock,
    TimestepEmbedSequential,
    Upsample,
    conv_nd,
    normalization,
    timestep_embedding,
)

#: Value the shifted-window mask puts between tokens of different regions (the reference's).
_MASKED = -100.0


# ----------------------------------------------------------------------------- windows


def _to_windows(x: torch.Tensor, window: int) -> torch.Tensor:
    """``B x C x H x W`` -> ``(B * nW) x window x window x C`` (windows row-major, batch outermost)."""
    b, c, h, w = x.shape
    x = x.view(b, c, h // window, window, w // window, window)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(-1, window, window, c)


def _from_windows(windows: torch.Tensor, window: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`_to_windows`: ``(B * nW) x window x window x C`` -> ``B x C x H x W``."""
    rows, cols = height // window, width // window
    b = windows.shape[0] // (rows * cols)
    x = windows.view(b, rows, cols, window, window, -1)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(b, -1, height, width)


def _window_mask(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """The reference's additive mask ``nW x window² x window²`` for attention in cyclically shifted windows.

    Tokens in different regions get -100, others 0.  As in the reference's
    ``calculate_mask``: the region labels are written through an index on a
    length-1 axis, so only the last band of "rows" applies and the labels vary
    along the height axis alone (bands ``[0, H - window)``, ``[H - window,
    H - shift)``, ``[H - shift, H)``, or one band when ``shift`` is 0, giving an
    all-zero mask); and each window's labels are flattened column-major while
    the attended tokens are row-major.
    """
    bands = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    labels = torch.zeros(height, width)
    for i, outer in enumerate(bands):
        if len(range(1)[outer]) == 0:  # the reference's outer slice indexes a length-1 axis
            continue
        for j, inner in enumerate(bands):
            labels[inner, :] = 3 * i + j
    windows = _to_windows(labels[None, None], window)[..., 0]  # nW x window x window
    flat = windows.transpose(1, 2).reshape(-1, window * window)
    different = flat[:, None, :] != flat[:, :, None]
    return torch.zeros(different.shape).masked_fill(different, _MASKED)


def _relative_position_index(window: tuple[int, int]) -> torch.Tensor:
    """Index into the ``(2Wh-1)(2Ww-1)`` bias table for every pair of tokens in a window (Swin eq. 4)."""
    coords = torch.stack(torch.meshgrid(torch.arange(window[0]), torch.arange(window[1]), indexing="ij")).flatten(1)
    offsets = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
    return (offsets[..., 0] + window[0] - 1) * (2 * window[1] - 1) + (offsets[..., 1] + window[1] - 1)


# ----------------------------------------------------------------------------- Swin stage


class _WindowAttention(nn.Module):
    """Multi-head self-attention inside a window with a learned relative-position bias (``qkv``, ``proj``)."""

    def __init__(self, dim: int, window: tuple[int, int], num_heads: int, qkv_bias: bool = True,
                 qk_scale: float | None = None, attn_drop: float = 0.0, proj_drop: float = 0.0) -> None:
        super().__init__()
        self.dim, self.window_size, self.num_heads = dim, window, num_heads
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window[0] - 1) * (2 * window[1] - 1), num_heads))
        self.register_buffer("relative_position_index", _relative_position_index(window))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: (windows x batch) x N x C tokens; ``mask``: nW x N x N additive, or None."""
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        logits = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        logits = logits + bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0).to(logits.dtype)
        if mask is not None:
            windows = mask.shape[0]
            logits = (logits.view(b // windows, windows, self.num_heads, n, n) + mask[None, :, None]).view(-1, self.num_heads, n, n)
        weights = self.attn_drop(torch.softmax(logits, dim=-1))
        out = (weights @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj_drop(self.proj(out))


class _ConvMlp(nn.Module):
    """Two 1x1 convolutions with GELU between (the transformer MLP, on B x C x H x W)."""

    def __init__(self, channels: int, hidden: int, drop: float) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class _SwinBlock(nn.Module):
    """Pre-norm (GroupNorm32) window attention, optionally on cyclically shifted windows, then the MLP."""

    def __init__(self, dim: int, resolution: Sequence[int], num_heads: int, window_size: int, shift_size: int,
                 mlp_ratio: float, qkv_bias: bool, qk_scale: float | None, drop: float, attn_drop: float) -> None:
        super().__init__()
        self.dim, self.input_resolution, self.num_heads, self.mlp_ratio = dim, list(resolution), num_heads, mlp_ratio
        if min(resolution) <= window_size:  # one window covers the map: no partition, no shift
            window_size, shift_size = min(resolution), 0
        if not 0 <= shift_size < window_size:
            raise ValueError(f"shift_size {shift_size} must lie in [0, window_size={window_size})")
        self.window_size, self.shift_size = window_size, shift_size
        if shift_size > 0:  # persistent, as in the published checkpoints; forward recomputes it (see module doc)
            self.register_buffer("attn_mask", _window_mask(resolution[0], resolution[1], window_size, shift_size))
        else:
            self.register_buffer("attn_mask", None)
        self.norm1 = normalization(dim)
        self.attn = _WindowAttention(dim, (window_size, window_size), num_heads, qkv_bias, qk_scale, attn_drop, drop)
        self.drop_path = nn.Identity()
        self.norm2 = normalization(dim)
        self.mlp = _ConvMlp(dim, int(dim * mlp_ratio), drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, height, width = x.shape
        shortcut, ws, shift = x, self.window_size, self.shift_size
        h = self.norm1(x)
        if shift > 0:
            h = torch.roll(h, shifts=(-shift, -shift), dims=(2, 3))
        mask = _window_mask(height, width, ws, shift).to(x.device, x.dtype) if shift > 0 else None
        h = self.attn(_to_windows(h, ws).reshape(-1, ws * ws, c), mask=mask)
        h = _from_windows(h.view(-1, ws, ws, c), ws, height, width)
        if shift > 0:
            h = torch.roll(h, shifts=(shift, shift), dims=(2, 3))
        x = shortcut + self.drop_path(h)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class _PatchProjection(nn.Module):
    """``proj`` convolution, then ``norm`` (GroupNorm32 when ``patch_norm``, else nothing)."""

    def __init__(self, in_channels: int, out_channels: int, patch_size: int, norm: bool) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, out_channels, kernel_size=patch_size, stride=patch_size)
        self.norm = normalization(out_channels) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x))


class SwinStage(nn.Module):
    """The reference's ``BasicLayer``: patch embedding to ``embed_dim``, ``depth`` Swin blocks (every second one
    shifted by half a window), 1x1 projection back to ``in_chans``.  Maps B x C x H x W to the same shape."""

    def __init__(self, in_chans: int, embed_dim: int, num_heads: int, window_size: int, depth: int = 2,
                 img_size: int = 224, patch_size: int = 4, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 qk_scale: float | None = None, drop: float = 0.0, attn_drop: float = 0.0,
                 patch_norm: bool = True) -> None:
        super().__init__()
        self.embed_dim, self.depth = embed_dim, depth
        resolution = [img_size // patch_size, img_size // patch_size]
        self.input_resolution = resolution
        self.patch_embed = _PatchProjection(in_chans, embed_dim, patch_size, patch_norm)
        self.patch_unembed = _PatchProjection(embed_dim, in_chans, 1, patch_norm)
        self.blocks = nn.ModuleList(
            _SwinBlock(embed_dim, resolution, num_heads, window_size, 0 if i % 2 == 0 else window_size // 2,
                       mlp_ratio, qkv_bias, qk_scale, drop, attn_drop)
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        for block in self.blocks:
            x = block(x)
        return self.patch_unembed(x)


# ----------------------------------------------------------------------------- U-Net


def _set_float_dtype(module: nn.Module, dtype: torch.dtype) -> None:
    """Weights and biases of every conv / linear layer under ``module`` to ``dtype`` (the reference's fp16 helpers)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            layer.weight.data = layer.weight.data.to(dtype)
            if layer.bias is not None:
                layer.bias.data = layer.bias.data.to(dtype)


class ResShiftSwinUNet(nn.Module):
    """ResShift's ``UNetModelSwin``: ADM residual levels, a Swin stage after the first block of every level whose
    resolution is in ``attention_resolutions`` (and in the middle), the LQ image (optionally with a mask)
    concatenated to the input, through a strided-conv feature extractor when ``lq_size != image_size``.

    ``attention_resolutions`` holds feature-map sizes (64 = the input level of a 64 x 64 latent), not
    downsampling rates.  ``forward(x, timesteps, lq=None, mask=None)``.
    """

    def __init__(self, image_size: int, in_channels: int, model_channels: int, out_channels: int,
                 num_res_blocks: int | Sequence[int], attention_resolutions: Sequence[int], dropout: float = 0,
                 channel_mult: Sequence[int] = (1, 2, 4, 8), conv_resample: bool = True, dims: int = 2,
                 use_fp16: bool = False, num_heads: int = 1, num_head_channels: int = -1,
                 use_scale_shift_norm: bool = False, resblock_updown: bool = False, swin_depth: int = 2,
                 swin_embed_dim: int = 96, window_size: int = 8, mlp_ratio: float = 2.0, patch_norm: bool = False,
                 cond_lq: bool = True, cond_mask: bool = False, lq_size: int = 256) -> None:
        super().__init__()
        if isinstance(num_res_blocks, int):
            num_res_blocks = [num_res_blocks] * len(channel_mult)
        elif len(num_res_blocks) != len(channel_mult):
            raise ValueError(f"num_res_blocks {list(num_res_blocks)} needs one entry per channel_mult level")
        if num_heads == -1 and (num_head_channels <= 0 or swin_embed_dim % num_head_channels):
            raise ValueError("num_heads=-1 needs a num_head_channels > 0 dividing swin_embed_dim")
        self.num_res_blocks = list(num_res_blocks)
        self.image_size, self.in_channels, self.model_channels = image_size, in_channels, model_channels
        self.out_channels, self.attention_resolutions, self.dropout = out_channels, attention_resolutions, dropout
        self.channel_mult, self.conv_resample = channel_mult, conv_resample
        self.dtype = torch.float16 if use_fp16 else torch.float32
        self.num_heads, self.num_head_channels = num_heads, num_head_channels
        self.cond_lq, self.cond_mask = cond_lq, cond_mask

        emb_dim = model_channels * 4
        self.time_embed = nn.Sequential(nn.Linear(model_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))

        lq_channels = 4 if cond_mask else 3
        if cond_lq and lq_size == image_size:
            self.feature_extractor: nn.Module = nn.Identity()
            extra = lq_channels
        else:  # halve lq_size / image_size times (the reference builds this even without cond_lq)
            layers: list[nn.Module] = []
            extra = 16
            for _ in range(int(math.log(lq_size / image_size) / math.log(2))):
                layers += [nn.Conv2d(lq_channels, extra, 3, 1, 1), nn.SiLU(), Downsample(extra, True, out_channels=extra * 2)]
                extra *= 2
                lq_channels = extra
            self.feature_extractor = nn.Sequential(*layers)

        heads = num_heads if num_head_channels == -1 else swin_embed_dim // num_head_channels

        def swin(channels: int, size: int) -> SwinStage:
            return SwinStage(in_chans=channels, embed_dim=swin_embed_dim, num_heads=heads, window_size=window_size,
                             depth=swin_depth, img_size=size, patch_size=1, mlp_ratio=mlp_ratio, qkv_bias=True,
                             qk_scale=None, drop=dropout, attn_drop=0.0, patch_norm=patch_norm)

        def res(channels: int, out: int | None = None, **updown: bool) -> ResBlock:
            return ResBlock(channels, emb_dim, dropout, out_channels=out, dims=dims,
                            use_scale_shift_norm=use_scale_shift_norm, **updown)

        ch = first = int(channel_mult[0] * model_channels)
        self.input_blocks = nn.ModuleList([TimestepEmbedSequential(conv_nd(dims, in_channels + extra, ch, 3, padding=1))])
        skips, size = [ch], image_size
        for level, mult in enumerate(channel_mult):
            for index in range(self.num_res_blocks[level]):
                layers = [res(ch, int(mult * model_channels))]
                ch = int(mult * model_channels)
                if size in attention_resolutions and index == 0:
                    layers.append(swin(ch, size))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                skips.append(ch)
            if level != len(channel_mult) - 1:
                down = res(ch, ch, down=True) if resblock_updown else Downsample(ch, conv_resample, dims=dims, out_channels=ch)
                self.input_blocks.append(TimestepEmbedSequential(down))
                skips.append(ch)
                size //= 2

        self.middle_block = TimestepEmbedSequential(res(ch), swin(ch, size), res(ch))

        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mult))):
            for index in range(self.num_res_blocks[level] + 1):
                layers = [res(ch + skips.pop(), int(model_channels * mult))]
                ch = int(model_channels * mult)
                if size in attention_resolutions and index == 0:
                    layers.append(swin(ch, size))
                if level and index == self.num_res_blocks[level]:
                    layers.append(res(ch, ch, up=True) if resblock_updown else Upsample(ch, conv_resample, dims=dims, out_channels=ch))
                    size *= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))

        self.out = nn.Sequential(normalization(ch), nn.SiLU(), conv_nd(dims, first, out_channels, 3, padding=1))

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, lq: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """Denoiser output for latent ``x`` at ``timesteps`` [N], conditioned on the LQ image ``lq`` (and ``mask``)."""
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels)).to(self.dtype)
        if lq is not None:
            if not self.cond_lq:
                raise ValueError("lq given to a model built with cond_lq=False")
            if mask is not None:
                if not self.cond_mask:
                    raise ValueError("mask given to a model built with cond_mask=False")
                lq = torch.cat([lq, mask], dim=1)
            x = torch.cat([x, self.feature_extractor(lq.to(self.dtype))], dim=1)
        h = x.to(self.dtype)
        skips = []
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h.to(x.dtype))

    def convert_to_fp16(self) -> None:
        """Conv / linear weights of the torso and the feature extractor to float16 (as the reference)."""
        for part in (self.input_blocks, self.feature_extractor, self.middle_block, self.output_blocks):
            _set_float_dtype(part, torch.float16)

    def convert_to_fp32(self) -> None:
        """Undo :meth:`convert_to_fp16` (the feature extractor too, which the reference leaves in float16)."""
        for part in (self.input_blocks, self.feature_extractor, self.middle_block, self.output_blocks):
            _set_float_dtype(part, torch.float32)


def build(config: Mapping[str, Any]) -> ResShiftSwinUNet:
    """``UNetModelSwin(**config)`` of the reference (the ``model.params`` section of a ResShift config)."""
    return ResShiftSwinUNet(**dict(config))


__all__ = ["ResShiftSwinUNet", "SwinStage", "build"]
