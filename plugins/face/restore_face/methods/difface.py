"""DifFace (Yue & Loy, "DifFace: Blind Face Restoration with Diffused Error Contraction", TPAMI 2024).

The defining idea (sec. 3.2, eq. 7-9): a *diffused estimator*.  A restoration
network ``f`` gives an estimate ``x0_hat = f(y)`` of the HQ face; it is diffused
forward to an intermediate step N < T,

    x_N ~ q(x_N | x0_hat) = N( sqrt(abar_N) x0_hat, (1 - abar_N) I ),

and the reverse chain of an *unconditional* face prior runs from there.  The
forward diffusion contracts the estimator's error (its effect shrinks by
sqrt(abar_N), eq. 11) and the prior, trained on clean faces only, fills in
realistic detail; since the degradation enters only through ``f``, a new
degradation needs no retraining of the prior.

N is ``start.t0_fraction`` x T (the paper: 100 of 250 respaced steps, 0.4) and
eta the DDIM noise (``sampler.eta``, paper 0.5): a larger N or eta trades
fidelity for realness.  ``--weights NAME`` runs a published prior (DifFace's
FFHQ-512, ``difface-ffhq512``) at ``face.size=512``.
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
from restore_face.parts import CHECKPOINTS, EstimatorPart, PriorPart, part_config, select_part, train_part


class DifFace(PhotoMethod, ZeroShotMethod):
    """Estimator ``f`` (restore_face.networks) + unconditional face prior (``prior.*``, or ``--weights``)."""

    name = "difface"
    plugin = "face"
    checkpoint_dir = CHECKPOINTS

    def __init__(self) -> None:
        super().__init__()
        self.estimator = EstimatorPart(self.name, "estimator")
        self.prior_part = PriorPart()

    def estimate(self, faces: torch.Tensor, cfg: DictConfig, context: RunContext) -> torch.Tensor:
        """``x0_hat = f(y)`` at the estimator's size, brought to the prior's (``face.size``)."""
        est_cfg = part_config(cfg, "estimator")
        network = self.estimator.load(est_cfg, faces.shape[1], context).model
        size = int(cfg.estimator.get("size") or cfg.face.size)
        with torch.no_grad():
            x0 = network(resize_faces(faces, size)).clamp(-1, 1)
        return resize_faces(x0, int(cfg.face.size))

    def restore_faces(self, faces: torch.Tensor, cfg: DictConfig, context: RunContext) -> torch.Tensor:
        """The diffused estimator's start at N, then the prior's reverse chain (module docstring)."""
        faces = faces.to(context.device)
        x0 = self.estimate(faces, cfg, context)
        loaded = self.load(cfg, faces.shape[1], context)
        plan = self.plan(cfg, loaded, context)
        size = tuple(x0.shape[-2:])
        with torch.no_grad():
            out = run_plan(plan, loaded.model, x0, size, context.generator(), start_image=x0)
        return out.clamp(-1, 1)

    def training_parts(self) -> dict[str, Any]:
        """The networks ``restore train`` trains, by ``train.part``."""
        return {"estimator": self.estimator, "prior": self.prior_part}

    def degradation(self, cfg: DictConfig, scale: int, context: RunContext) -> Any:
        """The training degradation of the part ``train.part`` names (what its run used)."""
        return select_part(cfg, self.training_parts()).degradation(cfg, scale, context)

    def train(self, cfg: DictConfig, context: RunContext, *, data: Any, output_dir: Any = None, max_steps: int | None = None) -> Path:
        """``restore train`` for ``train.part`` (see :meth:`training_parts`)."""
        return train_part(cfg, context, data=data, output_dir=output_dir, max_steps=max_steps, parts=self.training_parts())


__all__ = ["DifFace"]
