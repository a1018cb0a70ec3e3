"""The in-the-wild pipeline: detect, align, restore each face, paste it back over the upscaled background.

    photo ──detect (5 landmarks)──▶ faces ──align to FFHQ template──▶ crops ──method──▶ restored crops
      │                                                                                   │
      └──background: the image plugin's method (bicubic, srdiff, ...) ×scale──▶ canvas ◀──┘ paste (soft mask)

as GFPGAN, CodeFormer and DifFace run on whole photos (facexlib's
``FaceRestoreHelper``).  ``face.aligned`` (``--aligned``) skips detection for
inputs that are already aligned face crops.  A photo without a detected face
is still restored as a whole (the background path) with one warning line;
faces smaller than ``face.min_size`` pixels are named and left to the
background.  ``face.paste: residual`` (default) adds the network's change to the crop
(restored - LQ crop, warped back) to the upscaled background, so a face larger in the
photo than the network's crop keeps the background's finer detail; ``replace`` pastes the
restored crop itself, as facexlib does.  Faces are restored one at a time, so memory grows with the
output photo, not with the number of faces (``face.max_output_megapixels``
bounds it).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from restore_core.context import RunContext
from restore_core.errors import InputError, UsageError
from restore_core.sample import Sample
from restore_face.alignment import add_face_residual, align_face, compose_affine, invert_affine, paste_face, rescale_affine, soft_face_mask
from restore_face.detection import FaceDetection, make_detector


class FaceRestorer(Protocol):
    """What a face method adds to the pipeline: aligned LQ crops (N, 3, S, S) in [-1, 1] -> restored crops."""

    def restore_faces(self, faces: torch.Tensor, cfg: DictConfig, context: RunContext) -> torch.Tensor: ...


def value_range(sample: Sample, colour: np.ndarray) -> tuple[float, float]:
    """The values mapped to -1 and 1: (0, white) for integer photos, [0, 1] widened to the data for float ones."""
    kind = np.dtype(sample.source_dtype)
    if kind.kind in "ui":
        return 0.0, float(np.iinfo(kind).max)
    return min(0.0, float(colour.min())), max(1.0, float(colour.max()))


def colour_channels(sample: Sample) -> int:
    return sample.channels - (1 if sample.meta.get("has_alpha") else 0)


def to_model(colour: np.ndarray, bounds: tuple[float, float], device: Any) -> torch.Tensor:
    """(C, H, W) in ``bounds`` -> (1, 3, H, W) in [-1, 1]; grey replicated to RGB."""
    low, high = bounds
    x = (torch.from_numpy(np.ascontiguousarray(colour, dtype=np.float32)).to(device) - low) / (high - low) * 2 - 1
    return (x.expand(3, -1, -1) if x.shape[0] == 1 else x)[None].contiguous()


def from_model(x: torch.Tensor, channels: int, bounds: tuple[float, float]) -> np.ndarray:
    """Inverse of :func:`to_model`; RGB averaged back to grey for ``channels`` = 1."""
    low, high = bounds
    x = x[0].float().cpu().clamp(-1, 1)
    if channels == 1:
        x = x.mean(0, keepdim=True)
    return ((x + 1) / 2 * (high - low) + low).numpy()


def parse_scale(value: Any) -> float:
    try:
        scale = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"--scale must be a number, got {value!r}") from None
    if not 1.0 <= scale <= 16.0:
        raise UsageError(f"--scale must lie in [1, 16] for photos with faces, got {value}")
    return scale


#: ``background.method: auto``: the image plugin's best method (benchmarks: SRDiff) at the scales it restores.
AUTO_BACKGROUND = ("srdiff", (2.0, 4.0, 8.0))


def background_method(name: str, scale: float, registry: Any) -> str:
    """``name``, or for ``auto`` SRDiff at ×2/×4/×8 (its trained scales and cascade) and bicubic elsewhere."""
    if name != "auto":
        return name
    method, scales = AUTO_BACKGROUND
    return method if scale in scales and method in registry.names("methods") else "bicubic"


def background(sample: Sample, scale: float, cfg: DictConfig, context: RunContext) -> Sample:
    """The whole photo upscaled by the image plugin's ``background.method`` (its config, ``scale``, and
    ``background.overrides``); at ×1 the photo itself."""
    if scale == 1.0:
        return dataclasses.replace(sample, data=sample.data.copy())
    from restore_core.api import make_context
    from restore_core.config import compose_config
    from restore_face.io import IMAGE_PLUGIN, image_registry

    registry = image_registry()
    method = background_method(str(cfg.background.method), scale, registry)
    overrides = [f"scale={scale:g}", f"seed={int(cfg.seed)}", f"device={cfg.device}", *[str(o) for o in cfg.background.get("overrides") or []]]
    bg_cfg = compose_config(registry, IMAGE_PLUGIN, method, overrides=overrides)
    bg_context = make_context(bg_cfg, quiet=context.quiet, registry=registry)
    return registry.get("methods", method).factory().restore(sample, bg_cfg, bg_context)


def detect_faces(photo: torch.Tensor, cfg: DictConfig, context: RunContext) -> list[FaceDetection]:
    """Faces of ``photo`` (1, 3, H, W) in [-1, 1], found on a copy no larger than ``detect.max_side``."""
    _, detector = make_detector(cfg.detect, context.device)
    height, width = photo.shape[-2:]
    factor = min(1.0, float(cfg.detect.max_side) / max(height, width))
    small = photo
    if factor < 1.0:
        size = (max(1, round(height * factor)), max(1, round(width * factor)))
        small = F.interpolate(photo, size=size, mode="bilinear", align_corners=False, antialias=True)
        factor = size[1] / width
    image = ((small[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    faces = detector(image)
    if factor == 1.0:
        return faces
    back = lambda v: (np.asarray(v, dtype=np.float64) + 0.5) / factor - 0.5  # noqa: E731
    return [FaceDetection(tuple(back(face.box)), face.score, back(face.landmarks)) for face in faces]


def restore_faces_in_photo(sample: Sample, cfg: DictConfig, context: RunContext, restorer: FaceRestorer | None) -> Sample:
    """The pipeline of the module docstring for one photo; ``restorer`` None gives the background alone."""
    scale = parse_scale(cfg.scale)
    height, width = sample.spatial_shape
    megapixels = height * width * scale * scale / 1e6
    if megapixels > float(cfg.face.max_output_megapixels):
        raise InputError(sample.path, f"the ×{scale:g} output would be {megapixels:.0f} MP, above face.max_output_megapixels "
                         f"{cfg.face.max_output_megapixels}; lower --scale or raise the limit")
    channels = colour_channels(sample)
    colour = sample.data[:channels]
    bounds = value_range(sample, colour)
    result = background(sample, scale, cfg, context)
    if restorer is None:
        return result
    photo = to_model(colour, bounds, context.device)
    size = int(cfg.face.size)
    if bool(cfg.face.aligned):
        crop = F.interpolate(photo, size=(size, size), mode="bicubic", align_corners=False, antialias=True).clamp(-1, 1)
        restored = restorer.restore_faces(crop, cfg, context)
        out = F.interpolate(restored, size=result.spatial_shape, mode="bicubic", align_corners=False, antialias=True)
        result.data[:channels] = from_model(out, channels, bounds)
        return result
    faces = detect_faces(photo, cfg, context)
    name = sample.path if sample.path is not None else "input"
    kept = []
    for index, face in enumerate(faces):
        if face.size < float(cfg.face.min_size):
            x0, y0 = face.box[:2]
            context.log(f"restore: warning: {name}: face {index + 1} at ({x0:.0f}, {y0:.0f}) is {face.size:.0f} px, "
                        f"below face.min_size {cfg.face.min_size}; left to the background")
        else:
            kept.append(face)
    if not faces:
        context.log(f"restore: warning: {name}: no face found; restored as a whole (background only)")
    if not kept:
        return result
    canvas = to_model(result.data[:channels], bounds, context.device)
    mask = soft_face_mask(size, float(cfg.face.feather), context.device)
    to_canvas = rescale_affine(scale)
    residual = str(cfg.face.paste) == "residual"
    for face in context.progress(kept, total=len(kept), desc="faces") if len(kept) > 1 else kept:
        aligned = align_face(photo, face.landmarks, size)
        restored = restorer.restore_faces(aligned.crop, cfg, context)
        crop_to_canvas = compose_affine(to_canvas, invert_affine(aligned.matrix))
        if residual:  # add what the network changed in the band its crop resolves; finer background detail stays
            add_face_residual(canvas, restored - aligned.crop, crop_to_canvas, mask)
        else:
            paste_face(canvas, restored, crop_to_canvas, mask)
    result.data[:channels] = from_model(canvas, channels, bounds)
    return result


__all__ = ["FaceRestorer", "background", "detect_faces", "restore_faces_in_photo", "to_model", "from_model", "value_range"]
