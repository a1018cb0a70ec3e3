"""What a face detector returns: a box, a score and five landmarks."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The order of the five landmarks every detector returns (RetinaFace / MTCNN / facexlib order).
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class FaceDetection:
    """One face in image coordinates (x right, y down, pixels of the photo as read).

    ``box`` is ``(x0, y0, x1, y1)``; ``landmarks`` is ``(5, 2)`` ``(x, y)`` in
    :data:`LANDMARK_NAMES` order ("left" is the subject's left eye as seen
    in the image, i.e. the one with the smaller x, as in RetinaFace/facexlib).
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray

    @property
    def size(self) -> float:
        """The face's size in pixels: the larger side of its box."""
        x0, y0, x1, y1 = self.box
        return float(max(x1 - x0, y1 - y0))
