"""The blind face degradation of training: blur, downsampling, noise and JPEG, then back to the crop size.

    y = { [ (x * k_sigma) ↓_r + n_delta ]_JPEG_q } ↑_r

the classical model of blind face restoration (Wang et al. 2021, GFPGAN, eq. 1;
Yue & Loy 2024, DifFace, sec. 4.1): an isotropic Gaussian blur of std sigma,
bilinear downsampling by r, white Gaussian noise of std delta (on the 0-255
scale), JPEG at quality q, and bilinear upsampling back to the crop size.
Every parameter is drawn uniformly per face from its range.

The ranges are the papers', stated for 512 x 512 crops (:data:`PRESETS`):

=========  =============  ============  =============  ============
preset     sigma (px)     r             delta (/255)   q
=========  =============  ============  =============  ============
difface    [0.1, 15]      [0.8, 32]     [0, 20]        [30, 100]
gfpgan     [0.1, 10]      [0.8, 8]      [0, 20]        [60, 100]
=========  =============  ============  =============  ============

A model working at a smaller crop (``size`` < 512, the shipped CPU models at
128) sees the same faces at a coarser grid, so sigma and r are scaled by
``size / 512`` (r no lower than 1): the LQ face then holds as many pixels as the
paper's would.  GFPGAN's extra colour jitter and greyscale draws are left out.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from restore_core.degradations import gaussian_blur

#: The papers' ranges for 512 x 512 faces: blur sigma, downsampling r, noise delta (0-255), JPEG quality.
PRESETS: dict[str, dict[str, tuple[float, float]]] = {
    "difface": {"blur_sigma": (0.1, 15.0), "downsample": (0.8, 32.0), "noise": (0.0, 20.0), "jpeg_quality": (30.0, 100.0)},
    "gfpgan": {"blur_sigma": (0.1, 10.0), "downsample": (0.8, 8.0), "noise": (0.0, 20.0), "jpeg_quality": (60.0, 100.0)},
}
REFERENCE_SIZE = 512


@dataclass(frozen=True)
class BlindFaceParameters:
    """One draw of the degradation, in the crop's own pixels (sigma, r) and the papers' units (delta, q)."""

    blur_sigma: float
    downsample: float
    noise: float
    jpeg_quality: int


def jpeg_roundtrip(image: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode (C, H, W) in [-1, 1] as an 8-bit JPEG of ``quality`` (Pillow, 4:2:0) and decode it."""
    array = ((image.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    mode = "L" if array.shape[2] == 1 else "RGB"
    buffer = io.BytesIO()
    Image.fromarray(array[..., 0] if mode == "L" else array, mode).save(buffer, format="JPEG", quality=int(quality))
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert(mode), dtype=np.float32)
    decoded = decoded[..., None] if decoded.ndim == 2 else decoded
    return torch.from_numpy(decoded).permute(2, 0, 1).to(image.dtype) / 127.5 - 1


def degrade_face(image: torch.Tensor, params: BlindFaceParameters, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply one draw of the blind model to (1, C, H, W) in [-1, 1]; the result has the input's size."""
    size = tuple(image.shape[-2:])
    x = gaussian_blur(image, params.blur_sigma) if params.blur_sigma > 0 else image
    small = tuple(max(4, int(round(n / params.downsample))) for n in size)
    if small != size:
        x = F.interpolate(x, size=small, mode="bilinear", align_corners=False, antialias=True)
    if params.noise > 0:
        x = x + (2.0 * params.noise / 255.0) * torch.randn(x.shape, generator=generator, dtype=x.dtype)
    if params.jpeg_quality < 100:
        x = jpeg_roundtrip(x[0], params.jpeg_quality)[None]
    if small != size:
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return x.clamp(-1, 1)


def blind_face_degradation(
    preset: str = "difface",
    size: int = REFERENCE_SIZE,
    blur_sigma: Any = None,
    downsample: Any = None,
    noise: Any = None,
    jpeg_quality: Any = None,
) -> Any:
    """``degrade(hr, generator) -> lq`` drawing the blind model's parameters per face (module docstring).

    ``preset`` gives the paper's ranges; each range can be overridden (512-pixel
    units for ``blur_sigma`` and ``downsample``); ``size`` is the crop size the
    model works at.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown blind face preset '{preset}'; known: {', '.join(PRESETS)}")
    ranges = dict(PRESETS[preset])
    for key, value in (("blur_sigma", blur_sigma), ("downsample", downsample), ("noise", noise), ("jpeg_quality", jpeg_quality)):
        if value is not None:
            low, high = (float(v) for v in value)
            if low > high or low < 0:
                raise ValueError(f"{key} range must be [low, high] with 0 <= low <= high, got {list(value)}")
            ranges[key] = (low, high)
    factor = size / REFERENCE_SIZE

    def uniform(key: str, generator: torch.Generator | None) -> float:
        low, high = ranges[key]
        return low + (high - low) * float(torch.rand((), generator=generator))

    def draw(generator: torch.Generator | None) -> BlindFaceParameters:
        return BlindFaceParameters(
            blur_sigma=uniform("blur_sigma", generator) * factor,
            downsample=max(1.0, uniform("downsample", generator) * factor),
            noise=uniform("noise", generator),
            jpeg_quality=int(round(uniform("jpeg_quality", generator))),
        )

    def degrade(hr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if hr.ndim != 4:
            raise ValueError(f"the blind face degradation is 2-D: expected (B, C, H, W), got {tuple(hr.shape)}")
        return torch.cat([degrade_face(hr[i : i + 1], draw(generator), generator) for i in range(hr.shape[0])])

    degrade.draw = draw  # type: ignore[attr-defined]
    return degrade





def blind_face_degradation_for(scale: int = 1, **params: Any) -> Any:
    """The registered factory (``train.degradation: blind_face``): the scale is 1, the LQ keeps the crop size."""
    if int(scale) != 1:
        raise ValueError(f"the blind face degradation keeps the crop size (scale 1), got scale {scale}")
    return blind_face_degradation(**params)
def portrait_degradation(scale: int = 4, blur: float = 1.5, noise: float = 5.0, quality: int = 60) -> Any:
    """``degrade(hr, generator) -> lq``: the fixed degraded portrait of the benchmark (``eval.degradation: portrait``).

    A Gaussian blur of std ``blur`` HR pixels, antialiased bicubic ↓``scale``, Gaussian noise of std
    ``noise``/255 and JPEG at ``quality``, on (B, C, H, W) in [-1, 1]: what a blurred, downsampled,
    noisy, compressed photo is in the issue's test (the blind model of training draws these per face).
    """

    def one(hr: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        x = gaussian_blur(hr, blur) if blur > 0 else hr
        size = (hr.shape[-2] // scale, hr.shape[-1] // scale)
        x = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True)
        x = x + (2.0 * noise / 255.0) * torch.randn(x.shape, generator=generator, dtype=x.dtype)
        return jpeg_roundtrip(x[0], quality)[None]

    def degrade(hr: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.cat([one(hr[i : i + 1], generator) for i in range(hr.shape[0])])

    return degrade


def degrade_photo(hr: np.ndarray, scale: int, blur: float, noise: float, quality: int, seed: int = 0) -> np.ndarray:
    """:func:`portrait_degradation` of an (H, W, 3) uint8 photo, seeded: (H/s, W/s, 3) uint8."""
    x = torch.from_numpy(np.ascontiguousarray(hr)).permute(2, 0, 1).float()[None] / 127.5 - 1
    x = portrait_degradation(scale, blur, noise, quality)(x, torch.Generator().manual_seed(seed))
    return ((x[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()


__all__ = ["PRESETS", "degrade_photo", "portrait_degradation", "BlindFaceParameters", "blind_face_degradation", "blind_face_degradation_for", "degrade_face", "jpeg_roundtrip"]
