"""Conditional denoiser for SR3/SRDiff-style super-resolution, 2D or 3D.

A thin layer over MONAI's ``DiffusionModelUNet`` that adds the two ways a
super-resolution diffusion model sees its low-resolution input:

* SR3 (Saharia et al. 2021, "Image Super-Resolution via Iterative
  Refinement", sec. 2.4): the upsampled LR image is concatenated to the noisy
  state along the channel axis, so the UNet's ``in_channels`` are
  ``target_channels + cond_channels``.
* SRDiff (Li et al. 2022, "SRDiff: Single Image Super-Resolution with
  Diffusion Probabilistic Models", sec. 3.3): hidden features of an LR encoder
  (e.g. :class:`~restore_core.nets.rrdb.RRDBEncoder`) are brought to the HR
  grid, projected to the UNet's first width and *added* to its first-layer
  features.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.networks.layers.factories import Conv
from monai.networks.nets import DiffusionModelUNet
from monai.networks.nets.diffusion_model_unet import get_timestep_embedding
from torch import nn

_LINEAR_MODE_BY_RANK = {2: "bilinear", 3: "trilinear"}


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "reflect") -> torch.Tensor:
    """Pad the trailing end of each spatial axis of ``(B, C, *spatial)`` up to a multiple of ``multiple``.

    ``mode`` is ``reflect`` or ``replicate``; reflection falls back to
    replication when an axis is too short to reflect.  Crop the network's
    output back with ``out[..., :s]`` per axis.
    """
    pads = [(-s) % multiple for s in x.shape[2:]]
    if not any(pads):
        return x
    too_short = any(p >= s for p, s in zip(pads, x.shape[2:]))
    pad_mode = "replicate" if mode == "replicate" or too_short else "reflect"
    pad_arg: list[int] = []
    for p in reversed(pads):  # F.pad lists the last axis first
        pad_arg.extend((0, p))
    return F.pad(x, pad_arg, mode=pad_mode)


class ConditionalUNet(nn.Module):
    """Denoiser ``eps/x0/v = f(x_t, t, cond, encoder_features)`` on 2D or 3D grids.

    Args:
        spatial_dims: 2 for images, 3 for volumes.
        target_channels: channels of the noisy state ``x_t`` and of the output.
        cond_channels: channels of the concatenated condition (SR3 eq. in
            sec. 2.4); 0 for an unconditional model.
        channels: UNet width per resolution level (each a multiple of
            ``norm_num_groups``); ``len(channels) - 1`` downsamplings.
        num_res_blocks: residual blocks per level.
        attention_levels: self-attention on/off per level.
        norm_num_groups: GroupNorm groups.
        encoder_channels: channels of the LR-encoder features to inject
            (SRDiff sec. 3.3); 0 disables the injection.
        num_head_channels: channels per attention head.
        encoder_upsample_mode: ``"linear"`` (bi-/trilinear) or ``"nearest"``;
            how encoder features at LR resolution reach the HR grid.
        pad_mode: ``"reflect"`` or ``"replicate"``; how inputs whose size is
            not a multiple of ``2 ** (len(channels) - 1)`` are padded (and the
            output cropped back). Reflect falls back to replicate when an axis
            is too short to reflect.

    State-dict keys: ``unet.*`` are MONAI ``DiffusionModelUNet`` keys verbatim;
    ``encoder_projection.*`` is the SRDiff projection (only if
    ``encoder_channels > 0``).
    """

    def __init__(
        self,
        spatial_dims: int,
        target_channels: int,
        cond_channels: int,
        channels: Sequence[int] = (32, 64, 64),
        num_res_blocks: int | Sequence[int] = 1,
        attention_levels: Sequence[bool] = (False, False, True),
        norm_num_groups: int = 8,
        encoder_channels: int = 0,
        num_head_channels: int | Sequence[int] = 8,
        encoder_upsample_mode: str = "linear",
        pad_mode: str = "reflect",
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if target_channels < 1 or cond_channels < 0 or encoder_channels < 0:
            raise ValueError("need target_channels >= 1, cond_channels >= 0, encoder_channels >= 0")
        if encoder_upsample_mode not in ("linear", "nearest"):
            raise ValueError(f"encoder_upsample_mode must be 'linear' or 'nearest', got {encoder_upsample_mode!r}")
        if pad_mode not in ("reflect", "replicate"):
            raise ValueError(f"pad_mode must be 'reflect' or 'replicate', got {pad_mode!r}")
        channels = tuple(int(c) for c in channels)
        self.spatial_dims = spatial_dims
        self.target_channels = target_channels
        self.cond_channels = cond_channels
        self.encoder_channels = encoder_channels
        self.pad_mode = pad_mode
        self.encoder_upsample_mode = (
            _LINEAR_MODE_BY_RANK[spatial_dims] if encoder_upsample_mode == "linear" else "nearest"
        )
        # Each level but the last halves the grid, so sizes must divide this.
        self.size_multiple = 2 ** (len(channels) - 1)
        self.unet = DiffusionModelUNet(
            spatial_dims=spatial_dims,
            in_channels=target_channels + cond_channels,
            out_channels=target_channels,
            num_res_blocks=num_res_blocks if isinstance(num_res_blocks, int) else tuple(num_res_blocks),
            channels=channels,
            attention_levels=tuple(bool(a) for a in attention_levels),
            norm_num_groups=norm_num_groups,
            num_head_channels=num_head_channels if isinstance(num_head_channels, int) else tuple(num_head_channels),
        )
        self.encoder_projection: nn.Module | None = None
        if encoder_channels > 0:
            # SRDiff projects the concatenated encoder features to the
            # denoiser's first width before adding them (sec. 3.3).
            self.encoder_projection = Conv[Conv.CONV, spatial_dims](encoder_channels, channels[0], 3, padding=1)

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor | float | int,
        cond: torch.Tensor | None = None,
        encoder_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict the network target for noisy state ``x_t`` at timestep ``t``.

        Args:
            x_t: ``(B, target_channels, *spatial)``.
            t: timesteps, shape ``(B,)`` or a scalar (broadcast to the batch).
            cond: ``(B, cond_channels, *spatial)`` on the same grid as ``x_t``
                (the LR input already upsampled, SR3 sec. 2.4). ``None`` means
                the unconditional branch of classifier-free guidance: zeros.
            encoder_features: ``(B, encoder_channels, *any_spatial)``, usually
                at LR resolution; resized to the HR grid here (SRDiff sec. 3.3).
                ``None`` skips the injection (plain MONAI forward).

        Returns:
            ``(B, target_channels, *spatial)``.
        """
        self._check_inputs(x_t, cond, encoder_features)
        batch, spatial = x_t.shape[0], tuple(x_t.shape[2:])
        timesteps = torch.as_tensor(t, device=x_t.device)
        if timesteps.ndim == 0:
            timesteps = timesteps.expand(batch)

        if self.cond_channels > 0:
            if cond is None:
                cond = x_t.new_zeros((batch, self.cond_channels, *spatial))
            x_t = torch.cat([x_t, cond.to(x_t.dtype)], dim=1)

        injected = None
        if self.encoder_projection is not None and encoder_features is not None:
            features = encoder_features.to(x_t.dtype)
            if tuple(features.shape[2:]) != spatial:
                interp_kwargs = {} if self.encoder_upsample_mode == "nearest" else {"align_corners": False}
                features = F.interpolate(features, size=spatial, mode=self.encoder_upsample_mode, **interp_kwargs)
            injected = self.encoder_projection(features)

        # Pad once, after resizing the features to the true HR grid, so the
        # injected features stay aligned with x_t; crop back at the end.
        x_t = self._pad_to_multiple(x_t)
        if injected is not None:
            injected = self._pad_to_multiple(injected)
            out = self._unet_forward_with_injection(x_t, timesteps, injected)
        else:
            out = self.unet(x_t, timesteps)
        return out[(slice(None), slice(None), *(slice(0, s) for s in spatial))]

    def _unet_forward_with_injection(
        self, x: torch.Tensor, timesteps: torch.Tensor, injected: torch.Tensor
    ) -> torch.Tensor:
        """``DiffusionModelUNet.forward`` with ``injected`` added after ``conv_in``.

        MONAI's forward has no hook for this: its ``down_block_additional_residuals``
        (ControlNet-style) add to the skip tensors only, after the down path has
        run, so the features would never reach the encoder path. SRDiff adds them
        to the features that flow down the UNet, hence this re-run of MONAI's
        blocks (steps 1, 3-7 of its forward; no class labels, no cross-attention).
        ``tests/nets/test_unet.py`` checks it equals ``self.unet(x, t)`` when
        ``injected`` is zero, guarding against drift in MONAI.
        """
        unet = self.unet
        time_features = get_timestep_embedding(timesteps, unet.block_out_channels[0]).to(dtype=x.dtype)
        emb = unet.time_embed(time_features)
        h = unet.conv_in(x) + injected
        skips: list[torch.Tensor] = [h]
        for block in unet.down_blocks:
            h, block_skips = block(hidden_states=h, temb=emb, context=None)
            skips.extend(block_skips)
        h = unet.middle_block(hidden_states=h, temb=emb, context=None)
        for block in unet.up_blocks:
            num_skips = len(block.resnets)
            h = block(hidden_states=h, res_hidden_states_list=skips[-num_skips:], temb=emb, context=None)
            skips = skips[:-num_skips]
        return unet.out(h)

    def _pad_to_multiple(self, x: torch.Tensor) -> torch.Tensor:
        return pad_to_multiple(x, self.size_multiple, self.pad_mode)

    def _check_inputs(
        self, x_t: torch.Tensor, cond: torch.Tensor | None, encoder_features: torch.Tensor | None
    ) -> None:
        if x_t.ndim != self.spatial_dims + 2 or x_t.shape[1] != self.target_channels:
            raise ValueError(
                f"x_t must be (B, {self.target_channels}, {self.spatial_dims} spatial axes), got {tuple(x_t.shape)}"
            )
        if cond is not None:
            if self.cond_channels == 0:
                raise ValueError("cond given but the model was built with cond_channels=0")
            expected = (x_t.shape[0], self.cond_channels, *x_t.shape[2:])
            if tuple(cond.shape) != expected:
                raise ValueError(f"cond must have shape {expected} (upsample it to x_t's grid), got {tuple(cond.shape)}")
        if encoder_features is not None:
            if self.encoder_projection is None:
                raise ValueError("encoder_features given but the model was built with encoder_channels=0")
            if encoder_features.ndim != x_t.ndim or encoder_features.shape[:2] != (x_t.shape[0], self.encoder_channels):
                raise ValueError(
                    f"encoder_features must be (B={x_t.shape[0]}, {self.encoder_channels}, ...), "
                    f"got {tuple(encoder_features.shape)}"
                )
