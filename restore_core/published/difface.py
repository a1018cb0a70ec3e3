"""DifFace's ``UNetModel`` (its iDDPM face prior), rebuilt with the published checkpoints' keys.

Paper: Yue & Loy, *DifFace: Blind Face Restoration with Diffused Error
Contraction*, IEEE TPAMI 2024 (arXiv:2212.06512).  Reference:
https://github.com/zsyOAOA/DifFace, ``models/unet.py`` ``UNetModel`` and
``models/basic_ops.py``, commit 5c9ab801b2872544b221d4bfdeead7d430af4ed2; the
FFHQ-512 prior ``iddpm_ffhq512_ema500000.pth`` is built from the ``model``
section of ``configs/sample/iddpm_ffhq512_swinir.yaml`` (the same arguments as
``configs/training/diffusion_ffhq512.yaml``).

The network is the ADM U-Net of guided-diffusion (same blocks and parameter
names, :mod:`restore_core.published.adm_blocks`) with DifFace's own
constructor, which differs in what its arguments mean:

- ``num_res_blocks`` is an int or one count per ``channel_mult`` level;
- ``attention_resolutions`` are feature-map sizes: the encoder tracks
  ``ds = image_size`` and halves it (floor division) at each downsampling,
  the decoder doubles it back; attention follows the blocks of a level when
  ``ds`` is listed;
- the decoder's attention blocks take the head count's default of 1 (not
  ``num_heads``) when ``num_head_channels == -1``;
- no ``use_checkpoint`` / ``num_heads_upsample`` arguments; the output
  convolution is not zero-initialised.

What is matched: the constructor's keyword arguments, every ``state_dict`` key
and shape, ``forward(x, timesteps, y=None)`` and its output (within 1e-5 in
float32 on CPU, see tests/published), ``convert_to_fp16()`` /
``convert_to_fp32()``.  With ``out_channels = 2 x in_channels`` (the FFHQ
prior: 6) the output is the noise prediction followed by the learned-range
variance values.  ``use_fp16`` is recorded, but the model computes in
float32 until ``convert_to_fp16()`` is called.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from restore_core.published.guided_diffusion import ADMUNet

__all__ = ["UNetModel", "build", "FFHQ512_PRIOR"]

#: The FFHQ-512 iDDPM prior (``configs/sample/iddpm_ffhq512_swinir.yaml`` ``model.params``).
FFHQ512_PRIOR: dict[str, Any] = {
    "image_size": 512,
    "in_channels": 3,
    "model_channels": 32,
    "out_channels": 6,
    "attention_resolutions": [32, 16, 8],
    "dropout": 0,
    "channel_mult": [1, 2, 4, 8, 8, 16, 16],
    "num_res_blocks": [1, 2, 2, 2, 2, 3, 4],
    "conv_resample": True,
    "dims": 2,
    "use_fp16": False,
    "num_head_channels": 64,
    "use_scale_shift_norm": True,
    "resblock_updown": False,
    "use_new_attention_order": False,
}


def _attention_plans(image_size: int, levels: int, sizes: Iterable[int]) -> tuple[list[bool], list[bool]]:
    """Per-level attention flags of the encoder and of the decoder, from the feature sizes tracked as the reference does."""
    sizes = set(sizes)
    encoder_ds = [image_size]
    for _ in range(levels - 1):
        encoder_ds.append(encoder_ds[-1] // 2)
    decoder_ds = [encoder_ds[-1] * 2 ** (levels - 1 - level) for level in range(levels)]
    return [ds in sizes for ds in encoder_ds], [ds in sizes for ds in decoder_ds]


class UNetModel(ADMUNet):
    """DifFace's ``UNetModel`` with its own constructor arguments (see the module docstring)."""

    def __init__(
        self,
        image_size: int,
        in_channels: int,
        model_channels: int,
        out_channels: int,
        num_res_blocks: Union[int, Sequence[int]],
        attention_resolutions: Iterable[int],
        dropout: float = 0,
        channel_mult: Sequence[float] = (1, 2, 4, 8),
        conv_resample: bool = True,
        dims: int = 2,
        num_classes: Optional[int] = None,
        use_fp16: bool = False,
        num_heads: int = 1,
        num_head_channels: int = -1,
        use_scale_shift_norm: bool = False,
        resblock_updown: bool = False,
        use_new_attention_order: bool = False,
    ):
        levels = len(channel_mult)
        if isinstance(num_res_blocks, int):
            blocks = [num_res_blocks] * levels
        else:
            blocks = [int(n) for n in num_res_blocks]
            if len(blocks) != levels:
                raise ValueError(f"num_res_blocks has {len(blocks)} entries for {levels} channel_mult levels")
        attention_resolutions = list(attention_resolutions)
        encoder_attention, decoder_attention = _attention_plans(image_size, levels, attention_resolutions)
        super().__init__(
            image_size=image_size,
            in_channels=in_channels,
            model_channels=model_channels,
            out_channels=out_channels,
            num_res_blocks=blocks,
            attention=encoder_attention,
            decoder_attention=decoder_attention,
            dropout=dropout,
            channel_mult=channel_mult,
            conv_resample=conv_resample,
            dims=dims,
            num_classes=num_classes,
            use_fp16=use_fp16,
            num_heads=num_heads,
            num_head_channels=num_head_channels,
            decoder_num_heads=1,
            use_scale_shift_norm=use_scale_shift_norm,
            resblock_updown=resblock_updown,
            use_new_attention_order=use_new_attention_order,
            zero_out=False,
        )
        self.attention_resolutions = attention_resolutions


def build(config: Mapping[str, Any]) -> UNetModel:
    """DifFace's ``UNetModel`` from its keyword arguments (a config's ``model.params``); unknown keys raise ``TypeError``."""
    return UNetModel(**dict(config))
