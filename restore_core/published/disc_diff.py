"""DisC-Diff's multi-stream ``SuperResModel``, rebuilt with the published checkpoints' keys.

Paper: Mao, Jiang, Chen & Li, *DisC-Diff: Disentangled Conditional Diffusion
Model for Multi-Contrast MRI Super-Resolution*, MICCAI 2023
(arXiv:2303.13933).  Reference: https://github.com/Yebulabula/DisC-Diff,
``guided_diffusion/unet.py`` ``SuperResModel`` / ``UNetModel`` /
``SE_Attention`` and ``guided_diffusion/script_util.py`` ``sr_create_model``,
commit 53e4295988a744d34b520576cbe6d846829269e2; published configuration
``config/config_train.yaml`` / ``config_test.yaml`` (IXI, x4 and x2 models).

The network is guided-diffusion's ADM U-Net (:mod:`restore_core.published.adm_blocks`)
with three encoders of identical layout: ``input_blocks`` for the noisy
target-contrast image ``x``, ``input_blocks_lr`` for the (already upsampled)
low-resolution target contrast ``low_res`` and ``input_blocks_other`` for the
high-resolution reference contrast ``other``.  Each skip connection is the
mean of the three streams.  At the bottleneck each stream's features go
through a shared "common" and a shared "distinct" 3x3 convolution (+ SiLU)
to half the width; the distinct parts get their own squeeze-and-excitation
gate (``SE_Attention_dist_{1,2,3}``), the mean of the common parts one gate
(``SE_Attention_com``); their concatenation is reduced back to the bottleneck
width by a 1x1 convolution (``dim_reduction_non_zeros``) before the middle
block.  ``forward(x, timesteps, low_res=..., other=...)`` returns the
reference's seven outputs ``(com_h1, com_h2, com_h3, dist_h1, dist_h2,
dist_h3, out)`` -- the common features before gating, the gated distinct
features, and the network output (``2 x in_channels`` with ``learn_sigma``).
The reference hard-codes the bottleneck width ``conv_ch = 288``; here it is
derived as ``model_channels * channel_mult[-1]`` (96 x 3 = 288 for the
published models).

``build(config)`` accepts two forms (the rule is the keys):

1. ``"num_channels"`` present -> the reference's ``sr_create_model(...)``
   arguments as its YAML configs give them (``in_channel``, ``num_channels``,
   ``learn_sigma``, ...).  As in the reference, ``channel_mult`` is
   (1, 1, 2, 2, 3, 3) and attention sits at downsampling factors 8, 16 and 32
   whatever ``attention_resolutions`` says.  The YAML's data, training and
   sampling keys (``batch_size``, ``lr``, ``hr_data_dir``, ``diffusion_steps``,
   ...) are accepted and ignored, so a loaded ``config_train.yaml`` can be
   passed whole; other unknown keys raise ``TypeError``.
2. otherwise -> ``SuperResModel``'s keyword arguments (guided-diffusion's
   ``UNetModel`` ones without ``num_classes``; ``attention_resolutions`` as
   downsampling factors); only ``dims=2`` (the gates pool over two axes).

``use_fp16`` is recorded, but the model computes in float32 until
``convert_to_fp16()`` is called.
"""
from __future__ import annotations

import copy
from typing import Any, Iterable, Mapping, Sequence

import torch
from torch import nn

from restore_core.published.adm_blocks import conv_nd, timestep_embedding
from restore_core.published.guided_diffusion import UNetModel

__all__ = ["SEGate", "SuperResModel", "build", "sr_model_kwargs"]


class SEGate(nn.Module):
    """Squeeze-and-excitation channel gate (Hu et al., CVPR 2018): ``x * sigmoid(W2 relu(W1 mean_hw(x)))``.

    Parameter names as the reference's ``SE_Attention``: ``se.0`` and ``se.2``
    (bias-free linear layers, ``channel -> channel // reduction -> channel``).
    """

    def __init__(self, channel: int, reduction: int = 16):
        super().__init__()
        self.se = nn.Sequential(
            nn.Linear(channel, channel // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(channel // reduction, channel, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels = x.shape[:2]
        weights = self.se(x.mean(dim=(2, 3))).view(batch, channels, 1, 1)
        return x * weights


def _conv_silu(dims: int, channels_in: int, channels_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(conv_nd(dims, channels_in, channels_out, kernel, padding=kernel // 2), nn.SiLU())


class SuperResModel(UNetModel):
    """DisC-Diff's ``SuperResModel`` with its own constructor arguments (see the module docstring)."""

    def __init__(
        self,
        image_size: int,
        in_channels: int,
        model_channels: int,
        out_channels: int,
        num_res_blocks: int,
        attention_resolutions: Iterable[int],
        dropout: float = 0,
        channel_mult: Sequence[float] = (1, 2, 4, 8),
        conv_resample: bool = True,
        dims: int = 2,
        use_checkpoint: bool = False,
        use_fp16: bool = False,
        num_heads: int = 1,
        num_head_channels: int = -1,
        num_heads_upsample: int = -1,
        use_scale_shift_norm: bool = False,
        resblock_updown: bool = False,
        use_new_attention_order: bool = False,
    ):
        if dims != 2:
            raise ValueError("DisC-Diff's SuperResModel is 2-D (its squeeze-and-excitation gates pool over H and W)")
        super().__init__(
            image_size,
            in_channels,
            model_channels,
            out_channels,
            num_res_blocks,
            attention_resolutions,
            dropout=dropout,
            channel_mult=channel_mult,
            conv_resample=conv_resample,
            dims=dims,
            use_checkpoint=use_checkpoint,
            use_fp16=use_fp16,
            num_heads=num_heads,
            num_head_channels=num_head_channels,
            num_heads_upsample=num_heads_upsample,
            use_scale_shift_norm=use_scale_shift_norm,
            resblock_updown=resblock_updown,
            use_new_attention_order=use_new_attention_order,
        )
        out = self.out
        del self.out  # registered again last, where the reference has it
        width = int(model_channels * channel_mult[-1])  # the reference's conv_ch (288 = 96 x 3)
        half = width // 2
        self.bottleneck_channels = width
        self.input_blocks_lr = copy.deepcopy(self.input_blocks)
        self.input_blocks_other = copy.deepcopy(self.input_blocks)
        self.SE_Attention_com = SEGate(half, reduction=8)
        self.SE_Attention_dist_1 = SEGate(half, reduction=8)
        self.SE_Attention_dist_2 = SEGate(half, reduction=8)
        self.SE_Attention_dist_3 = SEGate(half, reduction=8)
        self.dim_reduction_non_zeros = _conv_silu(dims, 2 * width, width, 1)
        self.conv_common = _conv_silu(dims, width, half, 3)
        self.conv_distinct = _conv_silu(dims, width, half, 3)
        self.out = out

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, *, low_res: torch.Tensor, other: torch.Tensor):
        """``(com_h1, com_h2, com_h3, dist_h1, dist_h2, dist_h3, out)`` for the three same-size inputs.

        ``x``: noisy target contrast; ``low_res``: the low-resolution target
        contrast already resized to ``x``'s size; ``other``: the reference
        contrast; ``timesteps``: ``[N]``.
        """
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels))
        h1, h2, h3 = x.to(self.dtype), low_res.to(self.dtype), other.to(self.dtype)
        skips = []
        for block, block_lr, block_other in zip(self.input_blocks, self.input_blocks_lr, self.input_blocks_other):
            h1, h2, h3 = block(h1, emb), block_lr(h2, emb), block_other(h3, emb)
            skips.append((1 / 3) * h1 + (1 / 3) * h2 + (1 / 3) * h3)
        common = [self.conv_common(h) for h in (h1, h2, h3)]
        gates = (self.SE_Attention_dist_1, self.SE_Attention_dist_2, self.SE_Attention_dist_3)
        distinct = [gate(self.conv_distinct(h)) for gate, h in zip(gates, (h1, h2, h3))]
        shared = self.SE_Attention_com((1 / 3) * common[0] + (1 / 3) * common[1] + (1 / 3) * common[2])
        h = self.dim_reduction_non_zeros(torch.cat([shared, *distinct], dim=1))
        return (*common, *distinct, self.decode(h, skips, emb, x.dtype))


# ----------------------------------------------------------------------------- config forms

_SR_MODEL_KEYS = (
    "image_size in_channel num_channels num_res_blocks learn_sigma use_checkpoint attention_resolutions num_heads "
    "num_head_channels num_heads_upsample use_scale_shift_norm dropout resblock_updown use_fp16"
).split()

#: Keys of the reference's config/config_train.yaml and config_test.yaml that configure data, training,
#: sampling or the diffusion process, not the network.
NON_MODEL_YAML_KEYS = frozenset(
    (
        "base_samples batch_size clip_denoised data_dir diffusion_steps ema_rate fp16_scale_growth hr_data_dir "
        "log_interval lr lr_anneal_steps lr_data_dir microbatch model_path noise_schedule num_samples other_data_dir "
        "predict_xstart rescale_learned_sigmas rescale_timesteps resume_checkpoint sampling_method save_interval "
        "schedule_sampler timestep_respacing use_kl weight_decay"
    ).split()
)

#: ``sr_create_model``'s fixed choices.
SR_CHANNEL_MULT = (1, 1, 2, 2, 3, 3)
SR_ATTENTION_DS = (8, 16, 32)


def sr_model_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    """``SuperResModel`` keyword arguments equivalent to the reference's ``sr_create_model(**config)``."""
    unknown = sorted(set(config) - set(_SR_MODEL_KEYS) - NON_MODEL_YAML_KEYS)
    if unknown:
        raise TypeError(f"DisC-Diff sr_create_model: unknown argument(s) {', '.join(unknown)}")
    missing = [key for key in _SR_MODEL_KEYS if key not in config]
    if missing:
        raise TypeError(f"DisC-Diff sr_create_model: missing argument(s) {', '.join(missing)}")
    in_channels = int(config["in_channel"])
    return {
        "image_size": config["image_size"],
        "in_channels": in_channels,
        "model_channels": config["num_channels"],
        "out_channels": 2 * in_channels if config["learn_sigma"] else in_channels,
        "num_res_blocks": config["num_res_blocks"],
        "attention_resolutions": SR_ATTENTION_DS,
        "dropout": config["dropout"],
        "channel_mult": SR_CHANNEL_MULT,
        "use_checkpoint": config["use_checkpoint"],
        "num_heads": config["num_heads"],
        "num_head_channels": config["num_head_channels"],
        "num_heads_upsample": config["num_heads_upsample"],
        "use_scale_shift_norm": config["use_scale_shift_norm"],
        "resblock_updown": config["resblock_updown"],
        "use_fp16": config["use_fp16"],
    }


def build(config: Mapping[str, Any]) -> SuperResModel:
    """DisC-Diff's ``SuperResModel`` from ``sr_create_model`` / YAML arguments or its own keyword arguments."""
    if "num_channels" in config:
        return SuperResModel(**sr_model_kwargs(config))
    return SuperResModel(**dict(config))
