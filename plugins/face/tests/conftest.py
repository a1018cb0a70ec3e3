"""Fixtures of the face plugin's tests: tiny trained parts (seconds on a CPU) and photos with faces."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restore_core.api import train

#: A 32-pixel face crop and tiny networks for every part (the shipped configs' structure, fewer parameters).
TINY_FACE = (
    "face.size=32", "train.batch_size=2", "train.checkpoint_every=2", "prior.config.image_size=32",
    "prior.config.model_channels=32", "prior.config.channel_mult=[1,1]", "prior.config.num_res_blocks=[1,1]",
    "prior.config.attention_resolutions=[]", "prior.config.num_head_channels=32", "prior.diffusion.timesteps=100",
)
TINY_ESTIMATOR = ("estimator.size=32", "estimator.model.network.channels=[8,16]", "estimator.model.network.strides=[2]",
                  "estimator.model.network.num_res_units=1")
TINY_IRM = tuple(
    f"{part}.{key}" for part in ("irm_low", "irm_high") for key in (
        "model.denoiser.channels=[8,16]", "model.denoiser.attention_levels=[false,false]", "model.denoiser.norm_num_groups=4",
        "model.denoiser.num_head_channels=8", "diffusion.train_steps=100", "sampler.steps=2")
) + ("irm_low.size=8", "irm_high.size=32", "tem.sampler.steps=2")


def astronaut_face_photo(size: int = 192) -> np.ndarray:
    """scikit-image's astronaut (public domain, NASA) resized so its face box is about a fifth of the side."""
    import skimage.data

    return np.asarray(Image.fromarray(skimage.data.astronaut()).resize((size, size), Image.BICUBIC))


@pytest.fixture(scope="session")
def face_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("photos") / "portrait.png"
    Image.fromarray(astronaut_face_photo()).save(path)
    return path


@pytest.fixture(scope="session")
def tiny_parts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, ...]]:
    """Each method's overrides pointing at tiny parts trained here for 2 steps on aligned astronaut crops."""
    from restore_face.alignment import align_face
    from restore_face.detection import make_detector

    import torch

    root = tmp_path_factory.mktemp("tiny-face")
    data = root / "faces"
    data.mkdir()
    image = astronaut_face_photo(512).copy()
    face = make_detector({"backend": "mtcnn", "threshold": 0.9})[1](image)[0]
    photo = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 127.5 - 1
    crop = align_face(photo, face.landmarks, 64).crop[0]
    pixels = ((crop.permute(1, 2, 0) + 1) * 127.5).clamp(0, 255).round().to(torch.uint8).numpy()
    for k in range(2):
        Image.fromarray(pixels[:, ::-1] if k else pixels).save(data / f"face{k}.png")
    trained: dict[str, Path] = {}
    jobs = {"estimator": ("difface", TINY_ESTIMATOR), "prior": ("difface", ()), "irm_low": ("diffbfr", TINY_IRM),
            "irm_high": ("diffbfr", TINY_IRM)}
    for part, (method, extra) in jobs.items():
        trained[part] = train("face", method, data=data, output_dir=root / part, steps=2,
                              overrides=[*TINY_FACE, *extra, f"train.part={part}"])
    prior = root / "face-prior.safetensors"
    _export_prior(trained["prior"], prior)
    common = (*TINY_FACE, f"prior.checkpoint={prior}", "background.method=bicubic")
    return {
        "difface": (*common, *TINY_ESTIMATOR, f"estimator.checkpoint={trained['estimator']}", "sampler.steps=2"),
        "diffbfr": (*common, *TINY_IRM, f"irm_low.checkpoint={trained['irm_low']}", f"irm_high.checkpoint={trained['irm_high']}"),
        "bicubic": (),
        "data": (str(data),),
    }


def _export_prior(source: Path, target: Path) -> None:
    """scripts/export_prior.py: the prior network alone, in its published layout, with its card."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[3] / "scripts" / "export_prior.py"
    subprocess.run([sys.executable, str(script), str(source), str(target), "--dtype", "float32"], check=True, capture_output=True)
