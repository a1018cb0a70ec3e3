"""MTCNN face detector with five landmarks, offline, in plain torch + numpy.

MTCNN: K. Zhang, Z. Zhang, Z. Li, Y. Qiao, "Joint Face Detection and Alignment
using Multi-task Cascaded Convolutional Networks", IEEE Signal Processing
Letters 23(10), 2016. Three small networks run as a cascade: P-Net proposes
windows over an image pyramid, R-Net and O-Net re-score and regress them, O-Net
also places five landmarks.

Why our own code: facenet-pytorch (whose behaviour this module reproduces, see
``plugins/face/tests/test_mtcnn.py``) pins torch<2.3 and needs torchvision
(its NMS) and optionally OpenCV, none of which the CPU product environment has.
The networks, thresholds, scale pyramid, box regression, NMS rules and input
normalisation follow facenet-pytorch 2.6.0; the code is written anew.

Weights: ``../weights/mtcnn.safetensors``, converted by
``scripts/convert_mtcnn_weights.py`` from the state dicts in the facenet-pytorch
2.6.0 wheel (MIT), which were ported from davidsandberg/facenet's TensorFlow
MTCNN, itself a port of Zhang et al.'s original Caffe models (both MIT);
licence and provenance in ``../weights/MTCNN_LICENSE.txt``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from restore_face.detection.types import FaceDetection

DEFAULT_WEIGHTS = Path(__file__).parents[1] / "weights" / "mtcnn.safetensors"


class PNet(nn.Module):
    """Proposal net: fully convolutional, 12x12 windows at stride 2."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(box offsets (N, 4, h, w), face probabilities (N, 2, h, w))."""
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 2, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), F.softmax(self.conv4_1(x), dim=1)


class RNet(nn.Module):
    """Refinement net on 24x24 crops."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(box offsets (N, 4), face probabilities (N, 2))."""
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(x))
        # the dense weights came from TensorFlow (NHWC, then x/y swapped): flatten as (N, W, H, C)
        x = self.prelu4(self.dense4(x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)))
        return self.dense5_2(x), F.softmax(self.dense5_1(x), dim=1)


class ONet(nn.Module):
    """Output net on 48x48 crops: score, box offsets and five landmarks."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(box offsets (N, 4), landmarks (N, 10: five x then five y), probabilities (N, 2))."""
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)))
        return self.dense6_2(x), self.dense6_3(x), F.softmax(self.dense6_1(x), dim=1)


def overlap(a: torch.Tensor, b: torch.Tensor, mode: str = "union") -> torch.Tensor:
    """(len(a), len(b)) overlaps of (x0, y0, x1, y1) boxes.

    ``"union"``: intersection over union with areas ``(x1-x0)*(y1-y0)`` (as
    torchvision's NMS, used by the reference for the first two stages);
    ``"min"``: intersection over the smaller area, with the MATLAB-style ``+1``
    pixel sizes (the reference's last stage).
    """
    one = 1.0 if mode == "min" else 0.0
    w = (torch.minimum(a[:, None, 2], b[None, :, 2]) - torch.maximum(a[:, None, 0], b[None, :, 0]) + one).clamp(min=0)
    h = (torch.minimum(a[:, None, 3], b[None, :, 3]) - torch.maximum(a[:, None, 1], b[None, :, 1]) + one).clamp(min=0)
    inter = w * h
    area_a = (a[:, 2] - a[:, 0] + one) * (a[:, 3] - a[:, 1] + one)
    area_b = (b[:, 2] - b[:, 0] + one) * (b[:, 3] - b[:, 1] + one)
    if mode == "min":
        return inter / torch.minimum(area_a[:, None], area_b[None, :])
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float, mode: str = "union",
        chunk: int = 1024) -> torch.Tensor:
    """Greedy NMS: indices of the kept boxes, by descending score.

    A box is dropped when its overlap with a kept, higher-scored box exceeds
    ``threshold``. Exact greedy result, computed chunk by chunk: each chunk is
    first cleared against the boxes kept so far, then resolved by iterating
    ``keep[j] = alive[j] and no kept i < j overlaps j`` to its (unique) fixed point.
    """
    order = torch.sort(scores, descending=True, stable=True).indices
    sorted_boxes = boxes[order]
    kept: list[torch.Tensor] = []
    kept_boxes = sorted_boxes[:0]
    for start in range(0, len(order), chunk):
        cb = sorted_boxes[start:start + chunk]
        alive = torch.ones(len(cb), dtype=torch.bool, device=boxes.device)
        if len(kept_boxes):
            alive &= ~(overlap(kept_boxes, cb, mode) > threshold).any(dim=0)
        over = (overlap(cb, cb, mode) > threshold).triu(diagonal=1).to(cb.dtype)
        keep = alive
        while True:
            new = alive & ((keep.to(cb.dtype) @ over) == 0)
            if torch.equal(new, keep):
                break
            keep = new
        kept.append(order[start:start + chunk][keep])
        kept_boxes = torch.cat([kept_boxes, cb[keep]])
    return torch.cat(kept) if kept else order[:0]


def _run(net: nn.Module, x: torch.Tensor, batch: int = 512) -> tuple[torch.Tensor, ...]:
    """``net(x)`` in batches of ``batch`` crops (bounded memory, as the reference)."""
    if len(x) <= batch:
        return net(x)
    outs = [net(x[i:i + batch]) for i in range(0, len(x), batch)]
    return tuple(torch.cat(parts) for parts in zip(*outs))


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Boxes grown to squares about their centres (the reference's ``rerec``)."""
    out = boxes.clone()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2:4] = out[:, :2] + side[:, None]
    return out


def _regress(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    """Apply R/O-Net offsets (fractions of the ``+1`` box size; the reference's ``bbreg``)."""
    out = boxes.clone()
    w, h = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
    out[:, :4] = boxes[:, :4] + reg * torch.stack([w, h, w, h], dim=1)
    return out


def _crops(image: torch.Tensor, boxes: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised ``size``-square crops of the in-image part of each box, and which boxes gave one.

    Boxes are truncated to integers and clipped to the image (1-based, as the
    reference's ``pad``); the visible part is area-resampled, not zero-padded.
    """
    h, w = image.shape[-2:]
    ib = boxes[:, :4].trunc().int().tolist()
    crops, valid = [], []
    for x0, y0, x1, y1 in ib:
        x0, y0, x1, y1 = max(x0, 1), max(y0, 1), min(x1, w), min(y1, h)
        ok = y1 > y0 - 1 and x1 > x0 - 1
        valid.append(ok)
        if ok:
            crops.append(F.interpolate(image[:, :, y0 - 1:y1, x0 - 1:x1], size=(size, size), mode="area"))
    out = torch.cat(crops) if crops else image.new_zeros((0, 3, size, size))
    return (out - 127.5) * 0.0078125, torch.tensor(valid, dtype=torch.bool, device=image.device)


class MTCNNDetector:
    """MTCNN (P-, R-, O-Net cascade) with the shipped weights; see :meth:`detect`."""

    def __init__(self, weights: Path | None = None, min_face_size: int = 20,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7), factor: float = 0.709,
                 device: str | torch.device = "cpu") -> None:
        self.min_face_size, self.thresholds, self.factor = min_face_size, tuple(thresholds), factor
        self.device = torch.device(device)
        state = load_file(str(weights or DEFAULT_WEIGHTS))
        self.pnet, self.rnet, self.onet = PNet(), RNet(), ONet()
        for name, net in (("pnet", self.pnet), ("rnet", self.rnet), ("onet", self.onet)):
            prefix = name + "."
            net.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}, strict=True)
            net.to(self.device).eval()
        unknown = [k for k in state if k.split(".", 1)[0] not in ("pnet", "rnet", "onet")]
        if unknown:
            raise KeyError(f"unexpected keys in {weights or DEFAULT_WEIGHTS}: {unknown}")

    def scales(self, height: int, width: int) -> list[float]:
        """The image pyramid's scales: 12 / min_face_size, times ``factor`` while the short side is >= 12."""
        m = 12.0 / self.min_face_size
        short, scale, out = min(height, width) * m, m, []
        while short >= 12:
            out.append(scale)
            scale, short = scale * self.factor, short * self.factor
        return out

    @torch.inference_mode()
    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        """Faces in an (H, W, 3) RGB or (H, W) grey image, uint8 or float in [0, 255], best score first.

        Boxes are MTCNN's square-ish boxes, not clipped to the image.
        """
        arr = np.asarray(image)
        if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1):
            arr = np.repeat(arr.reshape(arr.shape[0], arr.shape[1], 1), 3, axis=2)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) or (H, W) image, got shape {arr.shape}")
        # (1, 3, H, W) with channels-last strides, which the CPU convolutions run much faster on
        img = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))[None].permute(0, 3, 1, 2)
        img = img.to(self.device)
        boxes = self._propose(img)
        if len(boxes):
            boxes = self._refine(img, boxes)
        if not len(boxes):
            return []
        boxes, points = self._output(img, boxes)
        boxes, points = boxes.cpu().numpy().astype(np.float64), points.cpu().numpy().astype(np.float64)
        return [FaceDetection(box=tuple(float(v) for v in b[:4]), score=float(b[4]), landmarks=p)
                for b, p in zip(boxes, points)]

    def _propose(self, img: torch.Tensor) -> torch.Tensor:
        """Stage 1: P-Net over the pyramid; (N, 5) squared boxes with scores."""
        h, w = img.shape[-2:]
        found = []
        for scale in self.scales(h, w):
            im = F.interpolate(img, size=(int(h * scale + 1), int(w * scale + 1)), mode="area")
            reg, prob = self.pnet((im - 127.5) * 0.0078125)
            score = prob[0, 1]
            yx = (score >= self.thresholds[0]).nonzero()
            if not len(yx):
                continue
            xy = yx.flip(1).to(img.dtype)
            cand = torch.cat([((2 * xy + 1) / scale).floor(), ((2 * xy + 12) / scale).floor(),
                              score[yx[:, 0], yx[:, 1], None], reg[0][:, yx[:, 0], yx[:, 1]].T], dim=1)
            found.append(cand[nms(cand[:, :4], cand[:, 4], 0.5)])
        if not found:
            return img.new_zeros((0, 5))
        cand = torch.cat(found)
        cand = cand[nms(cand[:, :4], cand[:, 4], 0.7)]
        bw, bh = cand[:, 2] - cand[:, 0], cand[:, 3] - cand[:, 1]
        boxes = cand[:, :4] + cand[:, 5:9] * torch.stack([bw, bh, bw, bh], dim=1)
        return _square(torch.cat([boxes, cand[:, 4:5]], dim=1))

    def _refine(self, img: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Stage 2: R-Net re-scores and regresses; (N, 5) squared boxes."""
        crops, valid = _crops(img, boxes, 24)
        boxes = boxes[valid]
        reg, prob = _run(self.rnet, crops)
        keep = prob[:, 1] > self.thresholds[1]
        boxes = torch.cat([boxes[keep, :4], prob[keep, 1:2]], dim=1)
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7)
        return _square(_regress(boxes[pick], reg[keep][pick]))

    def _output(self, img: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage 3: O-Net scores, landmarks (N, 5, 2) and final boxes (N, 5), 'min' NMS."""
        crops, valid = _crops(img, boxes, 48)
        boxes = boxes[valid]
        reg, marks, prob = _run(self.onet, crops)
        keep = prob[:, 1] > self.thresholds[2]
        boxes = torch.cat([boxes[keep, :4], prob[keep, 1:2]], dim=1)
        marks, reg = marks[keep], reg[keep]
        bw, bh = boxes[:, 2] - boxes[:, 0] + 1, boxes[:, 3] - boxes[:, 1] + 1
        points = torch.stack([bw[:, None] * marks[:, :5] + boxes[:, 0:1] - 1,
                              bh[:, None] * marks[:, 5:] + boxes[:, 1:2] - 1], dim=2)
        boxes = _regress(boxes, reg)
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7, mode="min")
        return boxes[pick], points[pick]
