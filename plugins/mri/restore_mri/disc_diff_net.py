"""DisC-Diff's disentangled multi-stream denoiser (Mao et al., MICCAI 2023, sec. 2.2 and fig. 2).

Three encoder streams of identical architecture read the three inputs: the
noisy target state x_t, the upsampled low-resolution target and the
high-resolution reference contrast.  Every skip connection carries the mean
of the three streams' features.  At the bottleneck each stream's features are
split by two shared convolutions into a *shared* part (what the contrasts
have in common: anatomy) and a *specific* part (what belongs to one contrast);
the shared parts are averaged and re-weighted by channel attention, each
specific part gets its own channel attention, and all four are concatenated
and fused by a 1x1 convolution before the middle block and the decoder.

The streams, middle block and decoder are MONAI ``DiffusionModelUNet`` blocks
(the x_t stream and decoder are one ``DiffusionModelUNet``; the two condition
streams are copies of its ``conv_in`` + ``down_blocks``); channel attention is
MONAI's squeeze-and-excitation layer.  MONAI has no multi-stream UNet, hence
this module's forward, which re-runs MONAI's blocks in the order of
``DiffusionModelUNet.forward``.

``forward`` returns the network output; :meth:`forward_with_parts` also
returns the per-stream shared and specific features the disentanglement loss
(:func:`restore_mri.disc_diff.disentanglement_loss`) compares.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from monai.networks.blocks import ChannelSELayer
from monai.networks.layers.factories import Conv
from monai.networks.nets import DiffusionModelUNet
from monai.networks.nets.diffusion_model_unet import get_timestep_embedding
from torch import nn

from restore_core.nets import pad_to_multiple

STREAMS = ("x_t", "lr", "ref")


class DisentangledParts(nn.Module):
    """Shared and specific bottleneck features of each stream, fused into one tensor (DisC-Diff fig. 2)."""

    def __init__(self, spatial_dims: int, channels: int, streams: int = 3, se_reduction: int = 4) -> None:
        super().__init__()
        conv = Conv[Conv.CONV, spatial_dims]
        half = max(1, channels // 2)
        self.shared = nn.Sequential(conv(channels, half, 3, padding=1), nn.SiLU())
        self.specific = nn.Sequential(conv(channels, half, 3, padding=1), nn.SiLU())
        self.shared_attention = ChannelSELayer(spatial_dims, half, r=se_reduction)
        self.specific_attention = nn.ModuleList(ChannelSELayer(spatial_dims, half, r=se_reduction) for _ in range(streams))
        self.fuse = nn.Sequential(conv(half * (streams + 1), channels, 1), nn.SiLU())

    def forward(self, features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        shared = [self.shared(h) for h in features]
        specific = [self.specific(h) for h in features]
        common = self.shared_attention(torch.stack(shared).mean(dim=0))
        weighted = [attention(p) for attention, p in zip(self.specific_attention, specific)]
        return self.fuse(torch.cat([common, *weighted], dim=1)), shared, specific


class DisentangledUNet(nn.Module):
    """``eps/x0/v = f(x_t, t, up(LR), ref)`` with three encoder streams and a disentangled bottleneck.

    Args mirror :class:`restore_core.nets.unet.ConditionalUNet` so one config
    builds either: ``target_channels`` = channels of x_t (and of up(LR) and
    the reference); ``cond_channels`` and ``encoder_channels`` are accepted
    for that interface and must be ``target_channels`` and 0.
    """

    def __init__(
        self,
        spatial_dims: int,
        target_channels: int,
        cond_channels: int = 0,
        channels: Sequence[int] = (32, 64, 64),
        num_res_blocks: int = 1,
        attention_levels: Sequence[bool] = (False, False, True),
        norm_num_groups: int = 16,
        num_head_channels: int = 32,
        encoder_channels: int = 0,
        se_reduction: int = 4,
        name: str | None = None,
    ) -> None:
        super().__init__()
        if encoder_channels:
            raise ValueError("DisC-Diff's denoiser takes no LR-encoder features (encoder_channels must be 0)")
        channels = tuple(int(c) for c in channels)
        self.spatial_dims = spatial_dims
        self.target_channels = target_channels
        self.size_multiple = 2 ** (len(channels) - 1)
        self.unet = DiffusionModelUNet(
            spatial_dims=spatial_dims, in_channels=target_channels, out_channels=target_channels,
            num_res_blocks=num_res_blocks, channels=channels, attention_levels=tuple(bool(a) for a in attention_levels),
            norm_num_groups=norm_num_groups, num_head_channels=num_head_channels,
        )
        self.lr_stream = nn.ModuleDict({"conv_in": copy.deepcopy(self.unet.conv_in), "down_blocks": copy.deepcopy(self.unet.down_blocks)})
        self.ref_stream = nn.ModuleDict({"conv_in": copy.deepcopy(self.unet.conv_in), "down_blocks": copy.deepcopy(self.unet.down_blocks)})
        self.parts = DisentangledParts(spatial_dims, channels[-1], len(STREAMS), se_reduction)

    def _encode(self, conv_in: nn.Module, down_blocks: nn.ModuleList, x: torch.Tensor, emb: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = conv_in(x)
        skips = [h]
        for block in down_blocks:
            h, block_skips = block(hidden_states=h, temb=emb, context=None)
            skips.extend(block_skips)
        return h, skips

    def forward_with_parts(
        self, x_t: torch.Tensor, t: torch.Tensor | float | int, up_lr: torch.Tensor, ref: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Output, per-stream shared features, per-stream specific features (order: x_t, LR, reference)."""
        spatial = tuple(x_t.shape[2:])
        timesteps = torch.as_tensor(t, device=x_t.device)
        if timesteps.ndim == 0:
            timesteps = timesteps.expand(x_t.shape[0])
        inputs = [self._pad(v.to(x_t.dtype)) for v in (x_t, up_lr, ref)]
        unet = self.unet
        emb = unet.time_embed(get_timestep_embedding(timesteps, unet.block_out_channels[0]).to(dtype=x_t.dtype))
        encoded = [
            self._encode(unet.conv_in, unet.down_blocks, inputs[0], emb),
            self._encode(self.lr_stream["conv_in"], self.lr_stream["down_blocks"], inputs[1], emb),
            self._encode(self.ref_stream["conv_in"], self.ref_stream["down_blocks"], inputs[2], emb),
        ]
        skips = [torch.stack(level).mean(dim=0) for level in zip(*(s for _, s in encoded))]  # DisC-Diff: 1/3 each
        h, shared, specific = self.parts([h for h, _ in encoded])
        h = unet.middle_block(hidden_states=h, temb=emb, context=None)
        for block in unet.up_blocks:
            count = len(block.resnets)
            h = block(hidden_states=h, res_hidden_states_list=skips[-count:], temb=emb, context=None)
            skips = skips[:-count]
        out = unet.out(h)
        return out[(slice(None), slice(None), *(slice(0, s) for s in spatial))], shared, specific

    def forward(self, x_t: torch.Tensor, t: torch.Tensor | float | int, up_lr: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return self.forward_with_parts(x_t, t, up_lr, ref)[0]

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        return pad_to_multiple(x, self.size_multiple)
