"""SR3 and SRDiff for natural images, on the core's conditional diffusion engine.

* SR3 (Saharia et al. 2021, "Image Super-Resolution via Iterative Refinement"):
  the denoiser predicts the noise of the HR image, conditioned by channel
  concatenation of the bicubically upsampled LR (sec. 2.4).
* SRDiff (Li et al. 2022, "SRDiff: Single image super-resolution with
  diffusion probabilistic models"): the diffusion runs on the residual
  HR - up(LR) (eq. 5), conditioned on the hidden features of an RRDB LR
  encoder (sec. 3.3).

Which of the two a method is comes from its config (``configs/sr3.yaml``,
``configs/srdiff.yaml``); this module adds what is specific to photographs:
[0, max] (float images: [0, 1] widened to their own [min, max]) <-> [-1, 1]
scaling, grey images, alpha, and reading training images.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from omegaconf import DictConfig

from restore_core.context import RunContext
from restore_core.engine.sr_method import DiffusionSRMethod
from restore_core.engine.zero_shot import ZeroShotMethod
from restore_core.errors import UsageError
from restore_core.sample import Sample
from restore_image.alpha import restore_colour_keep_alpha
from restore_image.io_common import white_level
from restore_image.scale import output_shape, parse_scale

MODEL_CHANNELS = 3
CHECKPOINTS = Path(__file__).with_name("checkpoints")


def model_range(colour: np.ndarray, dtype: np.dtype) -> tuple[float, float]:
    """The values mapped to -1 and 1: (0, white level) for integer images.

    Float images have no fixed white level (HDR, scientific data): [0, 1] is
    widened to the image's own (min, max), so nothing is clipped and the
    restored image is mapped back to the same range.  Images inside [0, 1]
    keep (0, 1): their scaling matches the training data and leaves the
    headroom the core's [-1, 1] clamp of the result needs.
    """
    if np.dtype(dtype).kind in "ui":
        return 0.0, white_level(dtype)
    return min(0.0, float(np.min(colour))), max(1.0, float(np.max(colour)))


def to_model_space(
    colour: np.ndarray, dtype: np.dtype, bounds: tuple[float, float] | None = None
) -> torch.Tensor:
    """(C, H, W) in ``bounds`` (default :func:`model_range`) -> (1, 3, H, W) in [-1, 1]; grey is replicated to RGB."""
    low, high = bounds if bounds is not None else model_range(colour, dtype)
    x = (torch.from_numpy(np.ascontiguousarray(colour, dtype=np.float32)) - low) / (high - low) * 2 - 1
    if x.shape[0] == 1:
        x = x.expand(MODEL_CHANNELS, -1, -1)
    return x[None]


def from_model_space(x: torch.Tensor, channels: int, dtype: np.dtype, bounds: tuple[float, float]) -> np.ndarray:
    """Inverse of :func:`to_model_space` with the same ``bounds``; RGB is averaged back to grey for grey inputs."""
    low, high = bounds
    x = x[0].float().cpu()
    if channels == 1:
        x = x.mean(0, keepdim=True)
    return ((x.clamp(-1, 1) + 1) / 2 * (high - low) + low).numpy()


class ImageDiffusionSR(DiffusionSRMethod):
    """SR3 / SRDiff / ResShift on RGB photographs (configured by the method's YAML).

    Training reads the data folder with the plugin's registered readers and
    synthesises LR with its registered degradation ``train.degradation``
    (the core's defaults of :class:`~restore_core.engine.sr_method.DiffusionMethod`).
    """

    spatial_dims = 2
    checkpoint_dir = CHECKPOINTS
    plugin = "image"
    #: Published architectures each method runs with ``--weights NAME`` (restore_core.published.runners).
    PUBLISHED_ARCHS: dict[str, tuple[str, ...]] = {"resshift": ("resshift-swin-unet",), "srdiff": ("srdiff",)}

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    @property
    def published_archs(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.PUBLISHED_ARCHS.get(self.name, ())

    def training_tensors(self, sample: Sample, cfg: DictConfig) -> list[torch.Tensor]:
        return [photo_tensor(sample)]

    def restore(self, sample: Sample, cfg: DictConfig, context: RunContext) -> Sample:
        scale = parse_scale(cfg.scale)
        if scale not in (2.0, 4.0, 8.0) and not cfg.model.get("any_scale", False):
            raise UsageError(f"method '{self.name}' restores ×2, ×4 and ×8 (as a ×2 cascade), not ×{cfg.scale}")
        return restore_photo(sample, scale, lambda lr: self.super_resolve(lr, scale, cfg, context))


class ImageZeroShot(ZeroShotMethod):
    """DDNM / DDNM+ / ILVR / DPS / CCDF on photographs with an unconditional image prior (by config preset).

    Any whole scale (1 for deblurring and denoising, with ``consistency.operator``
    ``gaussian_blur`` or ``identity``); the prior is ``--weights`` or the shipped one.
    """

    spatial_dims = 2
    checkpoint_dir = CHECKPOINTS
    plugin = "image"

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def training_tensors(self, sample: Sample, cfg: DictConfig) -> list[torch.Tensor]:
        return [photo_tensor(sample)]

    def restore(self, sample: Sample, cfg: DictConfig, context: RunContext) -> Sample:
        scale = parse_scale(cfg.scale)
        if not scale.is_integer():
            raise UsageError(f"method '{self.name}' restores whole scales (1 for deblurring or denoising), not ×{cfg.scale}")
        return restore_photo(sample, scale, lambda lr: self.super_resolve(lr, scale, cfg, context))


def photo_tensor(sample: Sample) -> torch.Tensor:
    """A photograph's colour channels (alpha dropped) in model units, grey replicated to RGB: a training image."""
    colour = sample.data[:-1] if sample.meta.get("has_alpha") else sample.data
    return to_model_space(colour, sample.source_dtype)[0]


def restore_photo(sample: Sample, scale: float, super_resolve: Callable[[torch.Tensor], torch.Tensor]) -> Sample:
    """Map a photograph's colour to model units, restore it with ``super_resolve``, map back; alpha upscaled apart."""
    size = output_shape(sample.spatial_shape, scale)

    def restore_colour(colour: np.ndarray) -> np.ndarray:
        bounds = model_range(colour, sample.source_dtype)
        hr = super_resolve(to_model_space(colour, sample.source_dtype, bounds))
        return from_model_space(hr, colour.shape[0], sample.source_dtype, bounds)

    return restore_colour_keep_alpha(sample, restore_colour, size)  # type: ignore[arg-type]
