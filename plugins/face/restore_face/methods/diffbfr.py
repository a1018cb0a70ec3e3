"""DiffBFR (Qiu et al., "DiffBFR: Bootstrapping Diffusion Model Towards Blind Face Restoration", ACM MM 2023).

Two modules, run one after the other (sec. 3):

* **Identity Restoration Module (IRM)**, two conditional DDPMs conditioned on the
  LQ face (SR3-style concatenation): one at low resolution (``irm_low``, here
  ``face.size / 4``), where identity and structure are restored with few
  pixels, then one at full resolution (``irm_high``).  Both use *truncated
  sampling* (sec. 3.2): the chain does not start from pure noise at T but
  from a forward-diffused image at an intermediate step, the LQ face for the
  low stage and the upsampled low-stage result for the high stage, so far fewer
  steps run and the output stays close to the input's identity.
* **Texture Enhancement Module (TEM)** (sec. 3.3): an *unconditional* face prior
  (the same prior DifFace uses) re-diffuses the IRM output to a small step
  (``tem.start.t0_fraction``) and denoises it, adding the fine texture that a
  model conditioned on the LQ face suppresses.

Each stage's start and sampler are its own config section (``irm_low``,
``irm_high``, ``tem``); ``tem.enabled: false`` stops after the IRM.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from restore_core.context import RunContext
from restore_core.engine.plan import run_plan
from restore_core.engine.zero_shot import ZeroShotMethod
from restore_face.methods.common import PhotoMethod, resize_faces
from restore_face.parts import CHECKPOINTS, FacePart, PriorPart, part_config, select_part, train_part


class DiffBFR(PhotoMethod, ZeroShotMethod):
    """IRM (``irm_low`` then ``irm_high``) and TEM (the face prior, ``prior.*`` or ``--weights``)."""

    name = "diffbfr"
    plugin = "face"
    checkpoint_dir = CHECKPOINTS

    def __init__(self) -> None:
        super().__init__()
        self.irm = {part: FacePart(self.name, part) for part in ("irm_low", "irm_high")}
        self.prior_part = PriorPart()

    def irm_stage(self, part: str, lq: torch.Tensor, start: torch.Tensor, cfg: DictConfig, context: RunContext, offset: int) -> torch.Tensor:
        """One IRM stage at its size: condition on the LQ face, truncated start from ``start``."""
        stage_cfg = part_config(cfg, part)
        method = self.irm[part]
        size = method.size(cfg)
        loaded = method.load(stage_cfg, lq.shape[1], context)
        plan = method.plan(stage_cfg, loaded, context)
        lq, start = resize_faces(lq, size), resize_faces(start, size)
        with torch.no_grad():
            return run_plan(plan, loaded.model, lq, (size, size), context.generator(offset=offset), start_image=start).clamp(-1, 1)

    def texture(self, face: torch.Tensor, cfg: DictConfig, context: RunContext) -> torch.Tensor:
        """TEM: re-diffuse to ``tem.start.t0_fraction`` and denoise with the unconditional prior."""
        loaded = self.load(cfg, face.shape[1], context)
        plan = self.plan(part_config(cfg, "tem"), loaded, context)
        with torch.no_grad():
            return run_plan(plan, loaded.model, face, tuple(face.shape[-2:]), context.generator(offset=2), start_image=face).clamp(-1, 1)

    def restore_faces(self, faces: torch.Tensor, cfg: DictConfig, context: RunContext) -> torch.Tensor:
        faces = faces.to(context.device)
        low = self.irm_stage("irm_low", faces, faces, cfg, context, offset=0)
        high = self.irm_stage("irm_high", faces, resize_faces(low, faces.shape[-1]), cfg, context, offset=1)
        if not bool(cfg.tem.get("enabled", True)):
            return high
        return self.texture(high, cfg, context)

    def training_parts(self) -> dict[str, Any]:
        """The networks ``restore train`` trains, by ``train.part``."""
        return {**self.irm, "prior": self.prior_part}

    def degradation(self, cfg: DictConfig, scale: int, context: RunContext) -> Any:
        """The training degradation of the part ``train.part`` names (what its run used)."""
        return select_part(cfg, self.training_parts()).degradation(cfg, scale, context)

    def train(self, cfg: DictConfig, context: RunContext, *, data: Any, output_dir: Any = None, max_steps: int | None = None) -> Path:
        """``restore train`` for ``train.part`` (see :meth:`training_parts`)."""
        return train_part(cfg, context, data=data, output_dir=output_dir, max_steps=max_steps, parts=self.training_parts())


__all__ = ["DiffBFR"]
