"""Align faces to the FFHQ five-point template, and paste restored faces back with a soft mask.

The template is the one GFPGAN, CodeFormer and DifFace align to (facexlib's
``FaceRestoreHelper`` at 512 x 512): eye centres, nose tip and mouth corners of
the FFHQ crop (Karras et al. 2019).  A face's five landmarks are mapped onto it
by the least-squares similarity transform (rotation, uniform scale, shift;
Umeyama 1991, "Least-squares estimation of transformation parameters between
two point patterns", eq. 40-42), as ``cv2.estimateAffinePartial2D`` does.

Written here rather than with OpenCV or scikit-image because the product runs on
torch alone: warping is ``torch.nn.functional.grid_sample`` (bilinear, on the
run's device), so aligning and pasting back need no further dependency.

Coordinates are pixel centres at integer positions (x right, y down).  A 2 x 3
matrix ``M`` maps a point ``p`` of one image to ``M @ [p, 1]`` in the other.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

#: FFHQ five-point template at 512 x 512 (left eye, right eye, nose, mouth left, mouth right).
FFHQ_TEMPLATE_512 = np.array(
    [[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935], [201.26117, 371.41043], [313.08905, 371.15118]],
    dtype=np.float64,
)
TEMPLATE_SIZE = 512


def template_at(size: int) -> np.ndarray:
    """The FFHQ template for a ``size`` x ``size`` crop (pixel centres rescaled from 512)."""
    return (FFHQ_TEMPLATE_512 + 0.5) * (size / TEMPLATE_SIZE) - 0.5


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2 x 3 similarity ``M`` minimising ``sum |M [s, 1] - t|^2`` (no reflection; Umeyama 1991).

    ``source`` and ``target`` are ``(N, 2)`` with N >= 2 distinct points.
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var_s = float((s**2).sum() / len(src))
    if var_s <= 1e-12:
        raise ValueError("landmarks coincide: no similarity transform")
    covariance = d.T @ s / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(singular) @ sign)) / var_s
    shift = mu_d - scale * rotation @ mu_s
    return np.concatenate([scale * rotation, shift[:, None]], axis=1)


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a 2 x 3 affine map."""
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def compose_affine(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """``outer ∘ inner`` of two 2 x 3 affine maps."""
    return (np.vstack([outer, [0.0, 0.0, 1.0]]) @ np.vstack([inner, [0.0, 0.0, 1.0]]))[:2]


def rescale_affine(scale: float) -> np.ndarray:
    """The map from a grid's pixel centres to those of the grid ``scale`` times denser."""
    return np.array([[scale, 0.0, 0.5 * scale - 0.5], [0.0, scale, 0.5 * scale - 0.5]])


def warp_affine(image: torch.Tensor, output_to_input: np.ndarray, size: tuple[int, int], padding: str = "border") -> torch.Tensor:
    """Sample ``image`` (B, C, H, W) at ``output_to_input @ [p, 1]`` for every pixel ``p`` of a ``size`` (h, w) grid.

    Bilinear; ``padding`` is grid_sample's ``padding_mode`` (border: edge pixels repeat).
    """
    height, width = image.shape[-2:]
    h, w = size
    matrix = torch.as_tensor(output_to_input, dtype=torch.float64)
    # in grid_sample's normalised coordinates (align_corners=False): u = (2 x + 1) / W - 1
    to_norm_in = torch.tensor([[2.0 / width, 0.0, 1.0 / width - 1.0], [0.0, 2.0 / height, 1.0 / height - 1.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    from_norm_out = torch.tensor([[w / 2.0, 0.0, w / 2.0 - 0.5], [0.0, h / 2.0, h / 2.0 - 0.5], [0.0, 0.0, 1.0]], dtype=torch.float64)
    theta = (to_norm_in @ torch.vstack([matrix, torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)]) @ from_norm_out)[:2]
    theta = theta.to(image.dtype).to(image.device).expand(image.shape[0], 2, 3)
    grid = F.affine_grid(theta, [image.shape[0], image.shape[1], h, w], align_corners=False)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode=padding, align_corners=False)


@dataclass(frozen=True)
class AlignedFace:
    """One face cut out to the template: ``matrix`` maps photo pixels to crop pixels of a ``size`` crop."""

    crop: torch.Tensor  # (1, C, size, size)
    matrix: np.ndarray
    size: int


def align_face(photo: torch.Tensor, landmarks: np.ndarray, size: int) -> AlignedFace:
    """Cut the face with ``landmarks`` (5, 2) out of ``photo`` (1, C, H, W) onto the FFHQ template at ``size``."""
    matrix = similarity_transform(landmarks, template_at(size))
    crop = warp_affine(photo, invert_affine(matrix), (size, size))
    return AlignedFace(crop, matrix, size)


def soft_face_mask(size: int, feather: float = 0.1, device: torch.device | str = "cpu") -> torch.Tensor:
    """A (1, 1, size, size) mask: 1 inside, easing to 0 over the outer ``feather`` of each side (raised cosine),
    so a pasted face blends into the background with no visible seam."""
    ramp = max(1.0, feather * size)
    position = torch.arange(size, dtype=torch.float32, device=device) + 0.5
    distance = torch.minimum(position, size - position)  # distance to the nearest edge
    edge = 0.5 - 0.5 * torch.cos(math.pi * torch.clamp(distance / ramp, 0.0, 1.0))
    return (edge[:, None] * edge[None, :])[None, None]


def paste_face(
    canvas: torch.Tensor, face: torch.Tensor, crop_to_canvas: np.ndarray, mask: torch.Tensor, residual: bool = False
) -> None:
    """Blend ``face`` (1, C, s, s) into ``canvas`` (1, C, H, W) in place: ``canvas = m face + (1 - m) canvas``
    (``residual``: ``face`` is a change, ``canvas = canvas + m face``).

    ``crop_to_canvas`` maps crop pixels to canvas pixels.  Only the canvas box
    the crop covers is touched, so memory stays proportional to the face.
    """
    size = face.shape[-1]
    corners = np.array([[-0.5, -0.5, 1], [size - 0.5, -0.5, 1], [-0.5, size - 0.5, 1], [size - 0.5, size - 0.5, 1]]) @ crop_to_canvas.T
    height, width = canvas.shape[-2:]
    x0, y0 = (max(0, int(math.floor(corners[:, i].min()))) for i in (0, 1))
    x1 = min(width, int(math.ceil(corners[:, 0].max())) + 1)
    y1 = min(height, int(math.ceil(corners[:, 1].max())) + 1)
    if x1 <= x0 or y1 <= y0:
        return
    # box pixel -> canvas pixel (shift) -> crop pixel
    box_to_crop = compose_affine(invert_affine(crop_to_canvas), np.array([[1.0, 0.0, x0], [0.0, 1.0, y0]]))
    box = (y1 - y0, x1 - x0)
    warped = warp_affine(face.to(canvas.dtype), box_to_crop, box)
    weight = warp_affine(mask.to(canvas.dtype), box_to_crop, box, padding="zeros")
    region = canvas[..., y0:y1, x0:x1]
    if residual:
        region.add_(weight * warped).clamp_(-1, 1)
    else:
        region.mul_(1 - weight).add_(weight * warped)


def add_face_residual(canvas: torch.Tensor, change: torch.Tensor, crop_to_canvas: np.ndarray, mask: torch.Tensor) -> None:
    """``canvas += m change`` over the face: :func:`paste_face` of a change (restored crop minus LQ crop)."""
    paste_face(canvas, change, crop_to_canvas, mask, residual=True)


__all__ = [
    "FFHQ_TEMPLATE_512", "AlignedFace", "add_face_residual", "align_face", "compose_affine", "invert_affine", "paste_face", "rescale_affine",
    "similarity_transform", "soft_face_mask", "template_at", "warp_affine",
]
