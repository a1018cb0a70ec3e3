"""Alignment to the FFHQ template and paste-back: exact transforms, seamless masks, bounded regions."""
from __future__ import annotations

import math

import numpy as np
import torch

from restore_face.alignment import (
    FFHQ_TEMPLATE_512, align_face, compose_affine, invert_affine, paste_face, rescale_affine, similarity_transform,
    soft_face_mask, template_at,
)


def test_similarity_transform_recovers_a_known_one():
    angle, scale, shift = math.radians(17), 0.37, np.array([12.5, -40.0])
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    source = FFHQ_TEMPLATE_512 * 1.3 + 7
    target = source @ (scale * rotation).T + shift
    matrix = similarity_transform(source, target)
    assert np.allclose(matrix[:, :2], scale * rotation, atol=1e-9) and np.allclose(matrix[:, 2], shift, atol=1e-7)


def test_similarity_never_reflects():
    mirrored = FFHQ_TEMPLATE_512 * np.array([-1.0, 1.0])
    matrix = similarity_transform(FFHQ_TEMPLATE_512, mirrored)
    assert np.linalg.det(matrix[:, :2]) > 0


def test_template_scales_with_pixel_centres():
    assert np.allclose(template_at(512), FFHQ_TEMPLATE_512)
    assert np.allclose((template_at(128) + 0.5) * 4 - 0.5, FFHQ_TEMPLATE_512)


def test_align_then_paste_back_leaves_the_photo_unchanged():
    y, x = torch.meshgrid(torch.linspace(-1, 1, 90), torch.linspace(-1, 1, 120), indexing="ij")
    photo = torch.stack([x, y, x * y])[None] * 0.8
    landmarks = template_at(512) * 0.12 + np.array([30.0, 10.0])  # a face of about 60 px in the photo
    aligned = align_face(photo, landmarks, 64)
    assert np.allclose(aligned.matrix @ np.array([*landmarks[2], 1.0]), template_at(64)[2])
    canvas = photo.clone()
    paste_face(canvas, aligned.crop, invert_affine(aligned.matrix), soft_face_mask(64))
    # bilinear there and back on a smooth image: the pasted face equals the photo up to interpolation error
    assert float((canvas - photo).abs().max()) < 0.02


def test_paste_changes_only_the_face_region_and_eases_in():
    canvas = torch.zeros(1, 3, 200, 300)
    face = torch.ones(1, 3, 32, 32)
    crop_to_canvas = compose_affine(rescale_affine(2.0), np.array([[1.0, 0.0, 40.0], [0.0, 1.0, 20.0]]))
    paste_face(canvas, face, crop_to_canvas, soft_face_mask(32, feather=0.2))
    changed = canvas[0, 0] > 0
    ys, xs = torch.nonzero(changed, as_tuple=True)
    # the crop covers canvas [79.5, 143.5] x [39.5, 103.5]: bilinear weights reach at most one pixel beyond
    assert 79 <= int(xs.min()) and int(xs.max()) <= 144 and 39 <= int(ys.min()) and int(ys.max()) <= 104
    assert float(canvas[0, 0, 40 + 32, 80 + 32]) > 0.99  # the centre is the face
    assert 0 < float(canvas[0, 0, 40 + 32, 82]) < 0.2  # the edge is mostly background


def test_soft_mask_is_one_inside_and_zero_at_the_border():
    mask = soft_face_mask(40, feather=0.1)[0, 0]
    assert float(mask[20, 20]) == 1.0 and float(mask[0, 20]) < 0.05 and float(mask.min()) >= 0


def test_residual_paste_adds_the_change_under_the_mask():
    from restore_face.alignment import add_face_residual

    canvas = torch.full((1, 3, 64, 64), 0.2)
    change = torch.full((1, 3, 16, 16), 0.5)
    add_face_residual(canvas, change, rescale_affine(4.0), soft_face_mask(16, feather=0.25))
    assert abs(float(canvas[0, 0, 32, 32]) - 0.7) < 1e-5  # background 0.2 + the full change at the centre
    assert abs(float(canvas[0, 0, 1, 32]) - 0.2) < 0.05  # the edge keeps the background
