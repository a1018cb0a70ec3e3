"""openai/guided-diffusion's ``UNetModel`` (ADM), rebuilt with the published checkpoints' keys.

Paper: Dhariwal & Nichol, *Diffusion Models Beat GANs on Image Synthesis*,
NeurIPS 2021 (arXiv:2105.05233); the layout is improved-diffusion's (Nichol &
Dhariwal, ICML 2021) with up/down-sampling residual blocks and head-width
attention added.  Reference: https://github.com/openai/guided-diffusion,
``guided_diffusion/unet.py`` ``UNetModel`` and ``guided_diffusion/script_util.py``
``create_model``, commit 22e0df8183507e13a7813f8d38d51b072ca1e67c.

What is matched: the constructor's keyword arguments, every ``state_dict``
key and shape (so ``256x256_diffusion_uncond.pt``, DPS's ``ffhq_10m.pt`` and
AT-DDPM's weights load with ``strict=True``), ``forward(x, timesteps, y=None)``
and the output (within 1e-5 in float32 on CPU, see tests/published), and
``convert_to_fp16()`` / ``convert_to_fp32()``.  Models with ``learn_sigma``
output ``2 x`` the image channels: the noise prediction, then the
learned-range variance interpolation values.

``build(config)`` accepts three forms of ``config`` (the rule is the keys):

1. ``"large_size"`` present -> AT-DDPM's ``sr_create_model(...)`` arguments
   (Nair et al., WACV 2023, https://github.com/Nithin-GK/AT-DDPM
   ``guided_diffusion/script_util.py``): 6 input channels (the turbulent image
   concatenated with x_t), ``channel_mult`` from ``large_size``, attention at
   feature sizes, no class conditioning.
2. ``"num_channels"`` present -> guided-diffusion's (and DPS's, and
   improved-diffusion's) ``create_model(...)`` script arguments:
   ``attention_resolutions`` as a comma-separated string of feature sizes (or
   an int, as DPS's YAML gives), ``channel_mult=""`` (or absent) meaning the
   default for ``image_size``, ``learn_sigma``, ``class_cond`` (1000
   classes), ...
3. otherwise -> ``UNetModel.__init__``'s own keyword arguments
   (``attention_resolutions`` as downsampling factors, ``channel_mult`` as a
   sequence, ``in_channels``, ``out_channels``, ``num_classes``, ...);
   ``image_size`` may be left out, as improved-diffusion's ``UNetModel``
   (https://github.com/openai/improved-diffusion, the same layout with
   ``resblock_updown=False`` and ``num_head_channels=-1``) has no such
   argument.

In forms 1 and 2 the diffusion-only arguments of the scripts' flag
dictionaries (``diffusion_steps``, ``noise_schedule``, ``timestep_respacing``,
``use_kl``, ``predict_xstart``, ``rescale_timesteps``,
``rescale_learned_sigmas``, ``sigma_small``) and DPS's ``model_path`` are
accepted and ignored; any other unknown key raises ``TypeError``.

``use_fp16`` is recorded but the model computes in float32 until
``convert_to_fp16()`` is called (the reference's forward casts its input to
float16 whenever ``use_fp16`` is set, and fails on float32 weights without
that call).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional, Sequence

import torch
from torch import nn

from restore_core.published.adm_blocks import (
    AttentionBlock,
    Downsample,
    ResBlock,
    TimestepEmbedSequential,
    Upsample,
    conv_nd,
    convert_conv_dtype,
    normalization,
    timestep_embedding,
    zero_module,
)

__all__ = ["ADMUNet", "UNetModel", "build", "unet_kwargs_from_create_model", "unet_kwargs_from_atddpm"]

#: ImageNet class count used by the reference's ``class_cond`` models.
NUM_CLASSES = 1000

#: ``channel_mult`` that ``create_model`` picks for ``channel_mult=""`` (32: improved-diffusion's choice; its
#: 64 and 256 agree with guided-diffusion's).
DEFAULT_CHANNEL_MULT = {
    512: (0.5, 1, 1, 2, 2, 4, 4),
    256: (1, 1, 2, 2, 4, 4),
    128: (1, 1, 2, 3, 4),
    64: (1, 2, 3, 4),
    32: (1, 2, 2, 2),
}

#: Script flags that configure the diffusion process, not the network.
DIFFUSION_ONLY_KEYS = frozenset(
    {
        "diffusion_steps",
        "noise_schedule",
        "timestep_respacing",
        "use_kl",
        "predict_xstart",
        "rescale_timesteps",
        "rescale_learned_sigmas",
        "sigma_small",
        "model_path",
    }
)


class ADMUNet(nn.Module):
    """The ADM encoder/decoder U-Net with a per-level plan; the shared core of the ADM-family modules.

    ``num_res_blocks[level]`` residual blocks per level, ``attention[level]``
    says whether those blocks are followed by self-attention
    (``decoder_attention[level]`` for the decoder's blocks, default the same);
    ``decoder_num_heads`` is the head count of the decoder's attention blocks
    when ``num_head_channels == -1``.  ``zero_out`` zero-initialises the final
    convolution (guided-diffusion does, DifFace does not).  Parameter names:
    ``time_embed.{0,2}``, ``label_emb``, ``input_blocks.i.j``,
    ``middle_block.{0,1,2}``, ``output_blocks.i.j``, ``out.{0,2}``.
    """

    def __init__(
        self,
        *,
        image_size: int,
        in_channels: int,
        model_channels: int,
        out_channels: int,
        num_res_blocks: Sequence[int],
        attention: Sequence[bool],
        decoder_attention: Optional[Sequence[bool]] = None,
        dropout: float = 0.0,
        channel_mult: Sequence[float] = (1, 2, 4, 8),
        conv_resample: bool = True,
        dims: int = 2,
        num_classes: Optional[int] = None,
        use_checkpoint: bool = False,
        use_fp16: bool = False,
        num_heads: int = 1,
        num_head_channels: int = -1,
        decoder_num_heads: int = 1,
        use_scale_shift_norm: bool = False,
        resblock_updown: bool = False,
        use_new_attention_order: bool = False,
        zero_out: bool = True,
    ):
        super().__init__()
        levels = len(channel_mult)
        decoder_attention = attention if decoder_attention is None else decoder_attention
        if not len(num_res_blocks) == len(attention) == len(decoder_attention) == levels:
            raise ValueError("num_res_blocks and attention need one entry per channel_mult level")
        self.image_size = image_size
        self.in_channels = in_channels
        self.model_channels = model_channels
        self.out_channels = out_channels
        self.num_res_blocks = list(num_res_blocks)
        self.channel_mult = tuple(channel_mult)
        self.dropout = dropout
        self.conv_resample = conv_resample
        self.num_classes = num_classes
        self.use_checkpoint = use_checkpoint
        self.use_fp16 = use_fp16
        self.dtype = torch.float32
        self.num_heads = num_heads
        self.num_head_channels = num_head_channels

        emb_dim = 4 * model_channels
        self.time_embed = nn.Sequential(nn.Linear(model_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        if num_classes is not None:
            self.label_emb = nn.Embedding(num_classes, emb_dim)

        def res(ch_in: int, ch_out: Optional[int] = None, **updown: bool) -> ResBlock:
            return ResBlock(
                ch_in,
                emb_dim,
                dropout,
                out_channels=ch_out,
                dims=dims,
                use_checkpoint=use_checkpoint,
                use_scale_shift_norm=use_scale_shift_norm,
                **updown,
            )

        def attn(ch: int, heads: int) -> AttentionBlock:
            return AttentionBlock(
                ch,
                num_heads=heads,
                num_head_channels=num_head_channels,
                use_checkpoint=use_checkpoint,
                use_new_attention_order=use_new_attention_order,
            )

        ch = first_ch = int(channel_mult[0] * model_channels)
        self.input_blocks = nn.ModuleList([TimestepEmbedSequential(conv_nd(dims, in_channels, ch, 3, padding=1))])
        skip_channels = [ch]
        for level, mult in enumerate(channel_mult):
            width = int(mult * model_channels)
            for _ in range(num_res_blocks[level]):
                layers: list[nn.Module] = [res(ch, width)]
                ch = width
                if attention[level]:
                    layers.append(attn(ch, num_heads))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                skip_channels.append(ch)
            if level != levels - 1:
                down = res(ch, ch, down=True) if resblock_updown else Downsample(ch, conv_resample, dims=dims, out_channels=ch)
                self.input_blocks.append(TimestepEmbedSequential(down))
                skip_channels.append(ch)

        self.middle_block = TimestepEmbedSequential(res(ch), attn(ch, num_heads), res(ch))

        self.output_blocks = nn.ModuleList()
        for level in reversed(range(levels)):
            width = int(channel_mult[level] * model_channels)
            for index in range(num_res_blocks[level] + 1):
                layers = [res(ch + skip_channels.pop(), width)]
                ch = width
                if decoder_attention[level]:
                    layers.append(attn(ch, decoder_num_heads))
                if level and index == num_res_blocks[level]:
                    layers.append(res(ch, ch, up=True) if resblock_updown else Upsample(ch, conv_resample, dims=dims, out_channels=ch))
                self.output_blocks.append(TimestepEmbedSequential(*layers))

        final = conv_nd(dims, first_ch, out_channels, 3, padding=1)
        self.out = nn.Sequential(normalization(ch), nn.SiLU(), zero_module(final) if zero_out else final)

    # -- precision -------------------------------------------------------------------------
    def convert_to_fp16(self) -> None:
        """Cast the convolutions of the encoder, middle and decoder to float16 and compute the torso in float16."""
        for part in (self.input_blocks, self.middle_block, self.output_blocks):
            convert_conv_dtype(part, torch.float16)
        self.dtype = torch.float16

    def convert_to_fp32(self) -> None:
        """Undo :meth:`convert_to_fp16`."""
        for part in (self.input_blocks, self.middle_block, self.output_blocks):
            convert_conv_dtype(part, torch.float32)
        self.dtype = torch.float32

    # -- forward ---------------------------------------------------------------------------
    def embed(self, timesteps: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The conditioning vector: MLP of the sinusoidal timestep embedding, plus the class embedding."""
        if (y is None) != (self.num_classes is None):
            raise ValueError("pass y (class labels) exactly when the model is class-conditional (num_classes set)")
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels))
        if y is not None:
            if y.shape != (timesteps.shape[0],):
                raise ValueError(f"y must have shape [N], got {tuple(y.shape)}")
            emb = emb + self.label_emb(y)
        return emb

    def decode(self, h: torch.Tensor, skips: list[torch.Tensor], emb: torch.Tensor, out_dtype: torch.dtype) -> torch.Tensor:
        """Middle block, decoder (consuming ``skips`` from the end) and output head."""
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        return self.out(h.to(out_dtype))

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Network output ``[N, out_channels, ...]`` for noisy input ``x``, timesteps ``[N]`` and optional labels ``y [N]``."""
        emb = self.embed(timesteps, y)
        h = x.to(self.dtype)
        skips = []
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        return self.decode(h, skips, emb, x.dtype)


class UNetModel(ADMUNet):
    """guided-diffusion's ``UNetModel`` with its own constructor arguments.

    ``attention_resolutions`` holds downsampling factors (``ds`` = 1, 2, 4, ...
    at successive levels); ``num_heads_upsample=-1`` means ``num_heads`` for
    the decoder's attention.
    """

    def __init__(
        self,
        image_size: Optional[int],
        in_channels: int,
        model_channels: int,
        out_channels: int,
        num_res_blocks: int,
        attention_resolutions: Iterable[int],
        dropout: float = 0,
        channel_mult: Sequence[float] = (1, 2, 4, 8),
        conv_resample: bool = True,
        dims: int = 2,
        num_classes: Optional[int] = None,
        use_checkpoint: bool = False,
        use_fp16: bool = False,
        num_heads: int = 1,
        num_head_channels: int = -1,
        num_heads_upsample: int = -1,
        use_scale_shift_norm: bool = False,
        resblock_updown: bool = False,
        use_new_attention_order: bool = False,
    ):
        factors = set(attention_resolutions)
        levels = len(channel_mult)
        super().__init__(
            image_size=image_size,
            in_channels=in_channels,
            model_channels=model_channels,
            out_channels=out_channels,
            num_res_blocks=[int(num_res_blocks)] * levels,
            attention=[2**level in factors for level in range(levels)],
            dropout=dropout,
            channel_mult=channel_mult,
            conv_resample=conv_resample,
            dims=dims,
            num_classes=num_classes,
            use_checkpoint=use_checkpoint,
            use_fp16=use_fp16,
            num_heads=num_heads,
            num_head_channels=num_head_channels,
            decoder_num_heads=num_heads if num_heads_upsample == -1 else num_heads_upsample,
            use_scale_shift_norm=use_scale_shift_norm,
            resblock_updown=resblock_updown,
            use_new_attention_order=use_new_attention_order,
        )
        self.attention_resolutions = attention_resolutions
        self.num_heads_upsample = num_heads if num_heads_upsample == -1 else num_heads_upsample


# ----------------------------------------------------------------------------- config forms

_UNET_KEYS = (
    "image_size in_channels model_channels out_channels num_res_blocks attention_resolutions dropout channel_mult "
    "conv_resample dims num_classes use_checkpoint use_fp16 num_heads num_head_channels num_heads_upsample "
    "use_scale_shift_norm resblock_updown use_new_attention_order"
).split()

_CREATE_MODEL_DEFAULTS: dict[str, Any] = {
    "channel_mult": "",
    "learn_sigma": False,
    "class_cond": False,
    "use_checkpoint": False,
    "attention_resolutions": "16",
    "num_heads": 1,
    "num_head_channels": -1,
    "num_heads_upsample": -1,
    "use_scale_shift_norm": False,
    "dropout": 0,
    "resblock_updown": False,
    "use_fp16": False,
    "use_new_attention_order": False,
}
_CREATE_MODEL_REQUIRED = ("image_size", "num_channels", "num_res_blocks")

_ATDDPM_KEYS = (
    "large_size small_size num_channels num_res_blocks learn_sigma class_cond use_checkpoint attention_resolutions "
    "num_heads num_head_channels num_heads_upsample use_scale_shift_norm dropout resblock_updown use_fp16"
).split()


def _check_keys(config: Mapping[str, Any], allowed: Iterable[str], form: str) -> None:
    unknown = sorted(set(config) - set(allowed) - DIFFUSION_ONLY_KEYS)
    if unknown:
        raise TypeError(f"{form}: unknown argument(s) {', '.join(unknown)}")


def _feature_sizes(value: Any) -> list[int]:
    """Attention feature sizes from ``"32,16,8"``, ``16`` or ``[32, 16, 8]``."""
    if isinstance(value, str):
        return [int(part) for part in value.split(",") if part.strip()]
    if isinstance(value, int):
        return [value]
    return [int(part) for part in value]


def unet_kwargs_from_create_model(config: Mapping[str, Any]) -> dict[str, Any]:
    """``UNetModel`` keyword arguments equivalent to guided-diffusion's / DPS's ``create_model(**config)``."""
    allowed = set(_CREATE_MODEL_DEFAULTS) | set(_CREATE_MODEL_REQUIRED)
    _check_keys(config, allowed, "create_model")
    missing = [key for key in _CREATE_MODEL_REQUIRED if key not in config]
    if missing:
        raise TypeError(f"create_model: missing argument(s) {', '.join(missing)}")
    args = {**_CREATE_MODEL_DEFAULTS, **{k: v for k, v in config.items() if k not in DIFFUSION_ONLY_KEYS}}
    image_size = int(args["image_size"])
    mult = args["channel_mult"]
    if mult == "" or mult is None:
        if image_size not in DEFAULT_CHANNEL_MULT:
            raise ValueError(f"create_model: no default channel_mult for image_size {image_size}")
        mult = DEFAULT_CHANNEL_MULT[image_size]
    elif isinstance(mult, str):
        mult = tuple(int(part) for part in mult.split(","))
    else:
        mult = tuple(mult)
    return {
        "image_size": image_size,
        "in_channels": 3,
        "model_channels": args["num_channels"],
        "out_channels": 6 if args["learn_sigma"] else 3,
        "num_res_blocks": args["num_res_blocks"],
        "attention_resolutions": tuple(image_size // size for size in _feature_sizes(args["attention_resolutions"])),
        "dropout": args["dropout"],
        "channel_mult": mult,
        "num_classes": NUM_CLASSES if args["class_cond"] else None,
        "use_checkpoint": args["use_checkpoint"],
        "use_fp16": args["use_fp16"],
        "num_heads": args["num_heads"],
        "num_head_channels": args["num_head_channels"],
        "num_heads_upsample": args["num_heads_upsample"],
        "use_scale_shift_norm": args["use_scale_shift_norm"],
        "resblock_updown": args["resblock_updown"],
        "use_new_attention_order": args["use_new_attention_order"],
    }


def unet_kwargs_from_atddpm(config: Mapping[str, Any]) -> dict[str, Any]:
    """``UNetModel`` keyword arguments equivalent to AT-DDPM's ``sr_create_model(**config)`` (all arguments required)."""
    _check_keys(config, _ATDDPM_KEYS, "AT-DDPM sr_create_model")
    missing = [key for key in _ATDDPM_KEYS if key not in config]
    if missing:
        raise TypeError(f"AT-DDPM sr_create_model: missing argument(s) {', '.join(missing)}")
    large = int(config["large_size"])
    if large in (512, 256, 128):
        mult: tuple = (1, 1, 2, 2, 4, 4)
    elif large == 64:
        mult = (1, 2, 3, 4)
    else:
        raise ValueError(f"AT-DDPM sr_create_model: unsupported large_size {large}")
    return {
        "image_size": large,
        "in_channels": 6,
        "model_channels": config["num_channels"],
        "out_channels": 6 if config["learn_sigma"] else 3,
        "num_res_blocks": config["num_res_blocks"],
        "attention_resolutions": tuple(large // size for size in _feature_sizes(config["attention_resolutions"])),
        "dropout": config["dropout"],
        "channel_mult": mult,
        "use_checkpoint": config["use_checkpoint"],
        "num_heads": config["num_heads"],
        "num_head_channels": config["num_head_channels"],
        "num_heads_upsample": config["num_heads_upsample"],
        "use_scale_shift_norm": config["use_scale_shift_norm"],
        "resblock_updown": config["resblock_updown"],
        "use_fp16": config["use_fp16"],
    }


def unet_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    """``UNetModel`` keyword arguments for any of the three accepted config forms (see the module docstring)."""
    if "large_size" in config:
        return unet_kwargs_from_atddpm(config)
    if "num_channels" in config:
        return unet_kwargs_from_create_model(config)
    unknown = sorted(set(config) - set(_UNET_KEYS))
    if unknown:
        raise TypeError(f"UNetModel: unknown argument(s) {', '.join(unknown)}")
    return {"image_size": None, **config}  # improved-diffusion's UNetModel has no image_size (the network ignores it)


def build(config: Mapping[str, Any]) -> UNetModel:
    """guided-diffusion's ``UNetModel`` from ``UNetModel``, ``create_model`` or AT-DDPM ``sr_create_model`` arguments."""
    return UNetModel(**unet_kwargs(config))
