"""What the face methods share: resizing crops between network sizes, and the photo pipeline entry."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from restore_core.context import RunContext
from restore_core.sample import Sample
from restore_face.pipeline import FaceRestorer, restore_faces_in_photo


def resize_faces(faces: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, s, s) -> (N, C, size, size): antialiased bicubic, clamped to [-1, 1]."""
    if faces.shape[-1] == size and faces.shape[-2] == size:
        return faces
    return F.interpolate(faces, size=(size, size), mode="bicubic", align_corners=False, antialias=True).clamp(-1, 1)


class PhotoMethod:
    """``restore(sample)``: the photo pipeline with this object's ``restore_faces`` (None: background only)."""

    def restorer(self) -> FaceRestorer | None:
        return self  # type: ignore[return-value]

    def restore(self, sample: Sample, cfg: DictConfig, context: RunContext) -> Sample:
        return restore_faces_in_photo(sample, cfg, context, self.restorer())


class FaceBicubic(PhotoMethod):
    """The baseline: the whole photo upscaled by bicubic interpolation, faces untouched."""

    def restorer(self) -> FaceRestorer | None:
        return None


__all__ = ["FaceBicubic", "PhotoMethod", "resize_faces"]
