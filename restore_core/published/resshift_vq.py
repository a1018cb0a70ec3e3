"""ResShift's vector-quantised autoencoder (VQ-f4), with the published checkpoints' state-dict keys.

Yue, Wang and Loy 2023, "ResShift: Efficient Diffusion Model for Image
Super-resolution by Residual Shifting" (NeurIPS 2023; journal version
arXiv:2403.07319) run their diffusion in the latent space of a VQGAN-style
autoencoder (Esser et al. 2021, "Taming Transformers"; the LDM code base of
Rombach et al. 2022) with a downsampling factor of 4 and a 3-channel latent.

Reference: github.com/zsyOAOA/ResShift at commit
3ce1d81e8402fd50083809ae288a3977f6921bdd, class ``VQModelTorch`` in
``ldm/models/autoencoder.py`` with ``Encoder``/``Decoder`` from
``ldm/modules/diffusionmodules/model.py`` and ``VectorQuantizer2`` from
``ldm/modules/vqvae/quantize.py``.  This module is an independent
re-expression of that architecture; it matches:

* the constructor's keyword arguments (``ddconfig``, ``n_embed``, ``embed_dim``,
  ``remap``, ``sane_index_shape``; ``ddconfig`` keys the encoder/decoder do not
  use, such as ``padding_mode`` in the published configs, are ignored as the
  reference ignores them);
* every state-dict key and shape, so ``autoencoder_vq_f4.pth`` (and the face
  autoencoders, which are the same class) load with ``strict=True``;
* ``encode(x)`` (pre-quantisation latent), ``decode(h, force_not_quantize=False)``,
  ``forward(input, force_not_quantize=False)`` and the ``quantize`` submodule,
  whose call returns ``(z_q, loss, (perplexity, min_encodings, indices))`` with
  the reference's "legacy" loss weighting, plus ``get_codebook_entry``.

Not reproduced: the reference's ``decode_code`` (it calls
``quantize.embed_code``, which ``VectorQuantizer2`` does not define, so it
cannot run there either), and the ``"linear"``/cross-attention ``attn_type``
values, which its ``make_attn`` rejects as well.  The reference swaps in an
xformers attention when xformers is installed; it has the same parameters
and computes the same single-head softmax attention, which is what is done
here (with ``scaled_dot_product_attention``).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: Attention kinds the reference's ``make_attn`` builds ("vanilla-xformers" is vanilla computed by xformers).
_ATTN_KINDS = ("vanilla", "vanilla-xformers", "none")


def _group_norm(channels: int) -> nn.GroupNorm:
    """The autoencoder's normalisation: 32 groups, eps 1e-6, affine."""
    return nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True)


class _ResidualBlock(nn.Module):
    """GroupNorm-swish-conv twice plus a (1x1 or 3x3 conv) shortcut; no timestep input in the autoencoder."""

    def __init__(self, in_channels: int, out_channels: int | None, dropout: float, conv_shortcut: bool = False) -> None:
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        self.in_channels, self.out_channels = in_channels, out_channels
        self.norm1 = _group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = _group_norm(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.use_conv_shortcut = conv_shortcut
        if in_channels != out_channels:
            if conv_shortcut:
                self.conv_shortcut = nn.Conv2d(in_channels, out_channels, 3, padding=1)
            else:
                self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        if self.in_channels != self.out_channels:
            x = self.conv_shortcut(x) if self.use_conv_shortcut else self.nin_shortcut(x)
        return x + h


class _SpatialSelfAttention(nn.Module):
    """Single-head self-attention over all pixels, 1x1-conv projections, residual output."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.in_channels = channels
        self.norm = _group_norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, height, width = x.shape
        h = self.norm(x)
        tokens = [t(h).reshape(b, 1, c, height * width).transpose(-1, -2) for t in (self.q, self.k, self.v)]
        out = F.scaled_dot_product_attention(*tokens)  # b x 1 x hw x c, scale c**-0.5
        out = out.transpose(-1, -2).reshape(b, c, height, width)
        return x + self.proj_out(out)


def _attention(channels: int, attn_type: str) -> nn.Module:
    if attn_type not in _ATTN_KINDS:
        raise NotImplementedError(f"attn_type '{attn_type}' is not built by the reference either; use one of {_ATTN_KINDS}")
    return nn.Identity() if attn_type == "none" else _SpatialSelfAttention(channels)


class _Downsample(nn.Module):
    """Halves the resolution: right/bottom zero pad + stride-2 3x3 conv, or 2x2 average pooling."""

    def __init__(self, channels: int, with_conv: bool) -> None:
        super().__init__()
        self.with_conv = with_conv
        if with_conv:
            self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_conv:
            return self.conv(F.pad(x, (0, 1, 0, 1)))
        return F.avg_pool2d(x, kernel_size=2, stride=2)


class _Upsample(nn.Module):
    """Doubles the resolution: nearest-neighbour, then an optional 3x3 conv."""

    def __init__(self, channels: int, with_conv: bool) -> None:
        super().__init__()
        self.with_conv = with_conv
        if with_conv:
            self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv(x) if self.with_conv else x


class _Stage(nn.Module):
    """One resolution level: ``block`` (residual blocks), ``attn`` (one per block or none), optional resampler."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.ModuleList()
        self.attn = nn.ModuleList()

    def run(self, h: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.block):
            h = block(h)
            if len(self.attn) > 0:
                h = self.attn[i](h)
        return h


class _Middle(nn.Module):
    """Residual block, self-attention, residual block at the lowest resolution."""

    def __init__(self, channels: int, dropout: float, attn_type: str) -> None:
        super().__init__()
        self.block_1 = _ResidualBlock(channels, channels, dropout)
        self.attn_1 = _attention(channels, attn_type)
        self.block_2 = _ResidualBlock(channels, channels, dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(h)))


def _blocks_per_level(num_res_blocks: int | Sequence[int], levels: int) -> list[int]:
    if isinstance(num_res_blocks, int):
        return [num_res_blocks] * levels
    if len(num_res_blocks) != levels:
        raise ValueError(f"num_res_blocks {list(num_res_blocks)} needs one entry per ch_mult level ({levels})")
    return [int(n) for n in num_res_blocks]


def _attn_kind(use_linear_attn: bool, attn_type: str) -> str:
    return "linear" if use_linear_attn else attn_type


class _Encoder(nn.Module):
    """Image -> latent: conv_in, ``len(ch_mult)`` levels (downsampling between them), middle, norm-swish-conv_out."""

    def __init__(self, *, ch: int, out_ch: int | None = None, ch_mult: Sequence[int] = (1, 2, 4, 8),
                 num_res_blocks: int | Sequence[int], attn_resolutions: Sequence[int], dropout: float = 0.0,
                 resamp_with_conv: bool = True, in_channels: int, resolution: int, z_channels: int,
                 double_z: bool = True, use_linear_attn: bool = False, attn_type: str = "vanilla",
                 **_unused: Any) -> None:
        super().__init__()
        attn_type = _attn_kind(use_linear_attn, attn_type)
        self.ch, self.temb_ch, self.num_resolutions = ch, 0, len(ch_mult)
        self.resolution, self.in_channels = resolution, in_channels
        self.num_res_blocks = _blocks_per_level(num_res_blocks, len(ch_mult))
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)
        widths_in = (1,) + tuple(ch_mult)
        self.in_ch_mult = widths_in
        size = resolution
        self.down = nn.ModuleList()
        for level, mult in enumerate(ch_mult):
            stage, width = _Stage(), ch * widths_in[level]
            for _ in range(self.num_res_blocks[level]):
                stage.block.append(_ResidualBlock(width, ch * mult, dropout))
                width = ch * mult
                if size in attn_resolutions:
                    stage.attn.append(_attention(width, attn_type))
            if level != len(ch_mult) - 1:
                stage.downsample = _Downsample(width, resamp_with_conv)
                size //= 2
            self.down.append(stage)
        self.mid = _Middle(width, dropout, attn_type)
        self.norm_out = _group_norm(width)
        self.conv_out = nn.Conv2d(width, 2 * z_channels if double_z else z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level, stage in enumerate(self.down):
            h = stage.run(h)
            if level != self.num_resolutions - 1:
                h = stage.downsample(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class _Decoder(nn.Module):
    """Latent -> image: conv_in, middle, levels from the lowest resolution up (one more block than the encoder)."""

    def __init__(self, *, ch: int, out_ch: int, ch_mult: Sequence[int] = (1, 2, 4, 8),
                 num_res_blocks: int | Sequence[int], attn_resolutions: Sequence[int], dropout: float = 0.0,
                 resamp_with_conv: bool = True, in_channels: int | None = None, resolution: int, z_channels: int,
                 give_pre_end: bool = False, tanh_out: bool = False, use_linear_attn: bool = False,
                 attn_type: str = "vanilla", **_unused: Any) -> None:
        super().__init__()
        attn_type = _attn_kind(use_linear_attn, attn_type)
        levels = len(ch_mult)
        self.ch, self.temb_ch, self.num_resolutions = ch, 0, levels
        self.resolution, self.in_channels = resolution, in_channels
        self.give_pre_end, self.tanh_out = give_pre_end, tanh_out
        self.num_res_blocks = _blocks_per_level(num_res_blocks, levels)
        width = ch * ch_mult[-1]
        size = resolution // 2 ** (levels - 1)
        self.z_shape = (1, z_channels, size, size)
        self.conv_in = nn.Conv2d(z_channels, width, 3, padding=1)
        self.mid = _Middle(width, dropout, attn_type)
        stages: list[_Stage] = [None] * levels  # type: ignore[list-item]
        for level in reversed(range(levels)):
            stage = _Stage()
            for _ in range(self.num_res_blocks[level] + 1):
                stage.block.append(_ResidualBlock(width, ch * ch_mult[level], dropout))
                width = ch * ch_mult[level]
                if size in attn_resolutions:
                    stage.attn.append(_attention(width, attn_type))
            if level != 0:
                stage.upsample = _Upsample(width, resamp_with_conv)
                size *= 2
            stages[level] = stage
        self.up = nn.ModuleList(stages)
        self.norm_out = _group_norm(width)
        self.conv_out = nn.Conv2d(width, out_ch, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.last_z_shape = z.shape
        h = self.mid(self.conv_in(z))
        for level in reversed(range(self.num_resolutions)):
            h = self.up[level].run(h)
            if level != 0:
                h = self.up[level].upsample(h)
        if self.give_pre_end:
            return h
        h = self.conv_out(F.silu(self.norm_out(h)))
        return torch.tanh(h) if self.tanh_out else h


class CodebookQuantizer(nn.Module):
    """Nearest-codeword vector quantisation with a straight-through gradient (VQ-VAE, van den Oord et al. 2017).

    ``forward(z)`` returns ``(z_q, loss, (None, None, indices))`` as the
    reference's ``VectorQuantizer2``: ``loss`` is the codebook + ``beta`` x
    commitment loss with the reference's default ("legacy") placement of
    ``beta``; ``indices`` are flat (``sane_index_shape=False``) or ``b x h x w``.
    ``remap`` is the path of a ``.npy`` array of used codebook indices, stored
    as the ``used`` buffer, as in the reference.
    """

    def __init__(self, n_e: int, e_dim: int, beta: float, remap: str | None = None,
                 unknown_index: str | int = "random", sane_index_shape: bool = False, legacy: bool = True) -> None:
        super().__init__()
        self.n_e, self.e_dim, self.beta, self.legacy = n_e, e_dim, beta, legacy
        self.embedding = nn.Embedding(n_e, e_dim)
        self.embedding.weight.data.uniform_(-1.0 / n_e, 1.0 / n_e)
        self.remap = remap
        self.re_embed = n_e
        if remap is not None:
            self.register_buffer("used", torch.tensor(np.load(remap)))
            self.re_embed = int(self.used.shape[0])
            self.unknown_index = unknown_index
            if unknown_index == "extra":
                self.unknown_index = self.re_embed
                self.re_embed += 1
        self.sane_index_shape = sane_index_shape

    def remap_to_used(self, inds: torch.Tensor) -> torch.Tensor:
        """Codebook indices -> positions in ``used`` (unknown ones random or ``unknown_index``)."""
        shape = inds.shape
        inds = inds.reshape(shape[0], -1)
        hits = (inds[:, :, None] == self.used.to(inds)[None, None, :]).long()
        new = hits.argmax(-1)
        unknown = hits.sum(2) < 1
        if self.unknown_index == "random":
            new[unknown] = torch.randint(0, self.re_embed, size=new[unknown].shape, device=new.device)
        else:
            new[unknown] = self.unknown_index
        return new.reshape(shape)

    def unmap_to_all(self, inds: torch.Tensor) -> torch.Tensor:
        """Positions in ``used`` -> codebook indices (the extra token maps to ``used[0]``)."""
        shape = inds.shape
        inds = inds.reshape(shape[0], -1)
        used = self.used.to(inds)
        if self.re_embed > used.shape[0]:
            inds[inds >= used.shape[0]] = 0
        return used[inds].reshape(shape)

    def forward(self, z: torch.Tensor, temp: float | None = None, rescale_logits: bool = False,
                return_logits: bool = False) -> tuple[torch.Tensor, torch.Tensor, tuple[None, None, torch.Tensor]]:
        if temp not in (None, 1.0) or rescale_logits or return_logits:
            raise ValueError("temp/rescale_logits/return_logits exist for Gumbel-quantiser compatibility only")
        z = z.permute(0, 2, 3, 1).contiguous()
        flat = z.view(-1, self.e_dim)
        codebook = self.embedding.weight
        # squared distances ||z||^2 + ||e||^2 - 2 z.e, the expansion the reference uses (ties resolve the same way)
        dist = flat.pow(2).sum(1, keepdim=True) + codebook.pow(2).sum(1) - 2 * torch.einsum("bd,dn->bn", flat, codebook.t())
        indices = dist.argmin(1)
        z_q = self.embedding(indices).view(z.shape)
        if self.legacy:
            loss = torch.mean((z_q.detach() - z) ** 2) + self.beta * torch.mean((z_q - z.detach()) ** 2)
        else:
            loss = self.beta * torch.mean((z_q.detach() - z) ** 2) + torch.mean((z_q - z.detach()) ** 2)
        z_q = z + (z_q - z).detach()
        z_q = z_q.permute(0, 3, 1, 2).contiguous()
        if self.remap is not None:
            indices = self.remap_to_used(indices.reshape(z.shape[0], -1)).reshape(-1, 1)
        if self.sane_index_shape:
            indices = indices.reshape(z_q.shape[0], z_q.shape[2], z_q.shape[3])
        return z_q, loss, (None, None, indices)

    def get_codebook_entry(self, indices: torch.Tensor, shape: Sequence[int] | None) -> torch.Tensor:
        """Codewords for ``indices``; with ``shape`` = (batch, height, width, channel), as a b x c x h x w latent."""
        if self.remap is not None:
            indices = self.unmap_to_all(indices.reshape(shape[0], -1)).reshape(-1)
        z_q = self.embedding(indices)
        if shape is not None:
            z_q = z_q.view(shape).permute(0, 3, 1, 2).contiguous()
        return z_q


class ResShiftVQAutoencoder(nn.Module):
    """ResShift's ``VQModelTorch``: encoder, 1x1 ``quant_conv``, codebook, 1x1 ``post_quant_conv``, decoder.

    ``encode`` returns the latent before quantisation (ResShift diffuses in
    it); ``decode`` quantises it first unless ``force_not_quantize``.
    """

    def __init__(self, ddconfig: Mapping[str, Any], n_embed: int, embed_dim: int, remap: str | None = None,
                 sane_index_shape: bool = False) -> None:
        super().__init__()
        ddconfig = dict(ddconfig)
        self.encoder = _Encoder(**ddconfig)
        self.decoder = _Decoder(**ddconfig)
        self.quantize = CodebookQuantizer(n_embed, embed_dim, beta=0.25, remap=remap, sane_index_shape=sane_index_shape)
        self.quant_conv = nn.Conv2d(ddconfig["z_channels"], embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, ddconfig["z_channels"], 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.quant_conv(self.encoder(x))

    def decode(self, h: torch.Tensor, force_not_quantize: bool = False) -> torch.Tensor:
        quant = h if force_not_quantize else self.quantize(h)[0]
        return self.decoder(self.post_quant_conv(quant))

    def forward(self, input: torch.Tensor, force_not_quantize: bool = False) -> torch.Tensor:  # noqa: A002 (reference name)
        return self.decode(self.encode(input), force_not_quantize)


def build(config: Mapping[str, Any]) -> ResShiftVQAutoencoder:
    """``VQModelTorch(**config)`` of the reference: ``ddconfig``, ``n_embed``, ``embed_dim`` [, ``remap``, ``sane_index_shape``]."""
    return ResShiftVQAutoencoder(**dict(config))


__all__ = ["CodebookQuantizer", "ResShiftVQAutoencoder", "build"]
