"""Run a published SRDiff checkpoint (LeiaLi/SRDiff) with the project's sampling plan: ``--method srdiff --weights NAME``.

:func:`load` builds the reference ``GaussianDiffusion`` (:mod:`restore_core.published.srdiff`),
loads the file strictly (SRDiff's trainer saves ``{"state_dict": {"model": ...}}``,
unwrapped by :mod:`~restore_core.published.state_files`) and returns
:class:`SRDiffPlanModel`, the plan-model interface of
:func:`restore_core.engine.plan.run_plan` around it.  Facts of the reference
(LeiaLi/SRDiff at ``56285083``: ``models/diffusion.py``, ``utils/dataset.py``,
``tasks/srdiff_df2k.py``) that the adapter reproduces:

* **images in [-1, 1]**: ``Normalize(0.5, 0.5)`` of ``ToTensor`` -- the project's
  model units, so LR and HR pass unchanged; the RRDB maps its input to [0, 1] itself;
* **up(LR)**: ``img_lr_up = Normalize(ToTensor(imresize(img_lr / 256, s)))`` with
  the Matlab-style bicubic of ``utils/matlab_resize.py`` (Keys a = -0.5, mirrored
  borders; :func:`restore_core.diffusion.operators.bicubic_resize_matrix` is that
  resize) of the 8-bit LR divided by **256**, not 255: in model units
  ``img_lr_up = (255/256) * (bicubic(lr) + 1) - 1``.  The network was trained and
  sampled with that up(LR), so the adapter uses it as ``up_lr``;
* **target** (``res: true``): ``img2res`` = ``clamp((hr - img_lr_up) * res_rescale, -1, 1)``
  (clamped with ``clip_input``) and back ``res2img`` = ``clamp(x, -1, 1) / res_rescale + img_lr_up``;
  with ``res: false`` the target is HR itself, and the reference starts from
  ``q_sample(img_lr_up, T - 1)``: ``start.mode=truncated start.t0_fraction=1``;
* **condition**: ``rrdb(img_lr, get_fea=True)``'s ``nb + 1`` feature maps, all kept
  (stacked on dim 1) and handed to ``denoise_fn`` as the reference's list (it uses
  every third from the third), plus ``img_lr_up`` (used with ``up_input``);
* **parameterisation**: epsilon (``p_sample`` always reads the output as noise,
  ``predict_start_from_noise``);
* **schedule**: the file's own ``alphas_cumprod`` buffer (the reference's float64
  cosine/linear schedule stored as float32), checked against
  :func:`restore_core.diffusion.schedules.make_schedule` of the config (cosine with
  ``s = beta_s``; linear 1e-4..``beta_end`` with the last beta 0.999 when ``res``).

Not the reference: the sampler is the plan's (``sampler.*``).  The reference's
``sample`` is full-chain ancestral DDPM (``timesteps`` steps, fixed-small posterior
variance, x0 clipped to [-1, 1]), i.e. ``sampler.name=ddpm sampler.steps=<timesteps>
sampler.clip_sample=1``; DDIM or fewer steps are the project's respacing.  The
reference needs HR sides divisible by ``2 ** (levels - 1)`` (it crops its images
to multiples of ``2 * sr_scale``); here the LR is padded (reflected) to such a size
and the output cropped.  Consistency steps (``consistency.name``) are the
project's, not SRDiff's: run with ``consistency.name=null`` to sample as the
reference does (the plan measures a residual target as ``y - A(up(LR))``, not
rescaled by ``res_rescale``, so a consistency step pulls the LR content only
part-way with this target).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from restore_core.diffusion.operators import bicubic_resize_matrix
from restore_core.diffusion.schedules import NoiseSchedule, make_schedule
from restore_core.diffusion.spaces import PixelSpace, ResidualSpace
from restore_core.engine.sampling import Condition
from restore_core.errors import UsageError
from restore_core.published.state_files import WeightsFileError, load_into

#: The reference's ``img_lr_up`` is the bicubic of the 8-bit LR divided by 256 (utils/dataset.py), not 255.
LR_UP_GAIN = 255.0 / 256.0
#: Largest difference allowed between the file's float32 ``alphas_cumprod`` and the config's schedule.
SCHEDULE_TOLERANCE = 1e-6
#: How the registry's ``diffusion`` mapping names SRDiff's settings, and the hparams key each must agree with.
DIFFUSION_KEYS = {"beta_schedule": "beta_schedule", "beta_s": "beta_s", "beta_end": "beta_end", "timesteps": "timesteps", "res_rescale": "res_rescale", "clip_input": "clip_input", "residual": "res"}


def matlab_bicubic(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``utils/matlab_resize.imresize(..., 'bicubic')`` of (B, C, H, W) to ``size``, separably in float64."""
    rows = bicubic_resize_matrix(image.shape[-2], size[0]).to(image.device)
    cols = bicubic_resize_matrix(image.shape[-1], size[1]).to(image.device)
    out = torch.einsum("oh,bchw,pw->bcop", rows, image.double(), cols)
    return out.to(image.dtype)


def reference_lr_up(lr: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The reference's ``img_lr_up`` for ``lr`` in [-1, 1]: ``Normalize(imresize(img_lr_uint8 / 256))`` in model units."""
    return LR_UP_GAIN * (matlab_bicubic(lr, size) + 1.0) - 1.0


class SRDiffTargetSpace(ResidualSpace):
    """SRDiff's ``img2res`` / ``res2img``: the residual HR - up(LR) times ``scale``, clamped with ``clip``.

    A :class:`ResidualSpace` (the target is a residual on up(LR)); ``scale`` is
    the reference's ``res_rescale``.
    """

    def __init__(self, scale: float, clip: bool) -> None:
        self.scale = float(scale)
        self.clip = bool(clip)

    def to_target(self, hr: torch.Tensor, up_lr: torch.Tensor) -> torch.Tensor:
        target = (hr - up_lr) * self.scale
        return target.clamp(-1.0, 1.0) if self.clip else target

    def from_target(self, target: torch.Tensor, up_lr: torch.Tensor) -> torch.Tensor:
        if self.clip:
            target = target.clamp(-1.0, 1.0)
        return target / self.scale + up_lr


def _levels(network: nn.Module) -> int:
    return len(network.denoise_fn.downs)  # type: ignore[union-attr, arg-type]


class SRDiffPlanModel(nn.Module):
    """The reference ``GaussianDiffusion`` (``network``) with the sampling plan's model interface (module docstring)."""

    process = "gaussian"
    wavelet = False
    spatial_dims = 2
    prediction_type = "epsilon"
    channels = 3
    target_channels = 3

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        hparams = network.hparams
        if network.rrdb is None or not hparams["use_rrdb"]:
            raise ValueError("srdiff runner: only use_rrdb: true checkpoints run (the reference's use_rrdb: false path has no RRDB condition)")
        self.network = network
        self.scale = int(hparams["sr_scale"])
        self.res = bool(hparams["res"])
        self.space = SRDiffTargetSpace(float(hparams["res_rescale"]), bool(hparams["clip_input"])) if self.res else PixelSpace()
        cumulative = network.alphas_cumprod.detach().double().cpu()
        previous = torch.cat([torch.ones(1, dtype=torch.float64), cumulative[:-1]])
        self.schedule = NoiseSchedule(1.0 - cumulative / previous)
        # HR sides must halve (levels - 1) times: the LR side must be a multiple of this.
        halvings = 2 ** (_levels(network) - 1)
        self.lr_multiple = halvings // math.gcd(halvings, self.scale)

    def config_schedule(self) -> NoiseSchedule:
        """The schedule the config describes, by the project's :func:`make_schedule` (the reference's formulas)."""
        hparams = self.network.hparams
        steps = self.schedule.num_train_timesteps
        if hparams["beta_schedule"] == "cosine":
            return make_schedule("cosine", steps, s=float(hparams["beta_s"]))
        betas = make_schedule("linear", steps, beta_end=float(hparams["beta_end"])).betas.clone()
        if self.res:
            betas[-1] = 0.999
        return NoiseSchedule(betas)

    def _pad(self, size: tuple[int, ...]) -> tuple[int, int]:
        return tuple((-s) % self.lr_multiple for s in size)  # type: ignore[return-value]

    @staticmethod
    def _pad_image(image: torch.Tensor, pad: tuple[int, int]) -> torch.Tensor:
        if not any(pad):
            return image
        mode = "reflect" if all(p < s for p, s in zip(pad, image.shape[2:])) else "replicate"
        return F.pad(image, (0, pad[1], 0, pad[0]), mode=mode)

    def condition(self, lr: torch.Tensor, hr_size: tuple[int, ...], *args: Any, **kwargs: Any) -> Condition:
        """``up_lr`` (the reference's ``img_lr_up``) and the RRDB ``features`` (B, nb + 1, nf, h, w) of ``lr``."""
        expected = tuple(s * self.scale for s in lr.shape[2:])
        if tuple(hr_size) != expected:
            ratio = "x".join(f"{h / s:g}" for h, s in zip(hr_size, lr.shape[2:]))
            raise UsageError(f"this SRDiff checkpoint super-resolves x{self.scale} only (asked {ratio}); run it with --scale {self.scale}")
        up_lr = reference_lr_up(lr, tuple(hr_size))  # type: ignore[arg-type]
        _, features = self.network.rrdb(self._pad_image(lr, self._pad(lr.shape[2:])), get_fea=True)
        return Condition({"up_lr": up_lr, "features": torch.stack(list(features), dim=1)})

    def to_target(self, hr: torch.Tensor, cond: Condition) -> torch.Tensor:
        """``img2res``: the reference's target for ``hr`` (model units)."""
        return self.space.to_target(hr, cond.tensors["up_lr"])

    def from_target(self, target: torch.Tensor, cond: Condition) -> torch.Tensor:
        """``res2img``: the image of a generated target."""
        return self.space.from_target(target, cond.tensors["up_lr"])

    def target_grid(self, hr_size: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(hr_size)  # the target is on the HR grid

    def shift_origin(self, cond: Condition) -> torch.Tensor:
        """Unused by a Gaussian chain; up(LR) as a target, for the interface."""
        return self.to_target(cond.tensors["up_lr"], cond)

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, cond: Condition | None) -> torch.Tensor:
        """``denoise_fn(x_t, t, rrdb features, img_lr_up)``: the reference's noise prediction (padded, then cropped)."""
        if cond is None:
            raise ValueError("SRDiff is conditional: denoise needs the condition (RRDB features)")
        height, width = x_t.shape[2:]
        pad = tuple(p * self.scale for p in self._pad((height // self.scale, width // self.scale)))
        features = list(cond.tensors["features"].unbind(dim=1))
        up_lr = self._pad_image(cond.tensors["up_lr"], pad)  # type: ignore[arg-type]
        out = self.network.denoise_fn(self._pad_image(x_t, pad), t, features, up_lr)  # type: ignore[arg-type]
        return out[:, :, :height, :width]

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: Condition | None) -> torch.Tensor:
        return self.denoise(x_t, t, cond)


def _check_diffusion(spec_diffusion: Mapping[str, Any], hparams: Mapping[str, Any], path: Path) -> None:
    """The registry entry's ``diffusion`` must not contradict the checkpoint's hparams (it is documentation of them)."""
    for key, hkey in DIFFUSION_KEYS.items():
        if key in spec_diffusion and spec_diffusion[key] is not None and spec_diffusion[key] != hparams[hkey]:
            raise UsageError(f"{path}: the entry's diffusion.{key} = {spec_diffusion[key]!r} contradicts its config's hparams.{hkey} = {hparams[hkey]!r}")
    predict = spec_diffusion.get("predict", spec_diffusion.get("prediction"))
    if predict not in (None, "epsilon", "eps", "noise"):
        raise UsageError(f"{path}: SRDiff's sampler reads the network output as noise (epsilon), the entry says predict: {predict}")
    if spec_diffusion.get("learn_sigma"):
        raise UsageError(f"{path}: SRDiff networks have no learned variance (learn_sigma: true in the entry)")


def load(spec: Mapping[str, Any], path: Path, weights: Any, device: str) -> SRDiffPlanModel:
    """The SRDiff checkpoint ``path`` (registry entry ``spec``) as a sampling-plan model (see the module docstring)."""
    from restore_core.published import build

    network = build(str(spec["arch"]), dict(spec["config"]))
    wrapper = (spec.get("extra") or {}).get("wrapper")
    load_into(network, path, wrapper, what="architecture 'srdiff' with this config")
    _check_diffusion(dict(spec.get("diffusion") or {}), network.hparams, Path(path))
    model = SRDiffPlanModel(network)
    expected = model.config_schedule().alphas_cumprod
    worst = float((model.schedule.alphas_cumprod - expected).abs().max())
    if worst > SCHEDULE_TOLERANCE:
        hparams = network.hparams
        raise WeightsFileError(
            path, f"its alphas_cumprod buffer is not the config's {hparams['beta_schedule']} schedule of {model.schedule.num_train_timesteps} steps "
            f"(max difference {worst:.2e}): the checkpoint was trained with other schedule settings than the entry's config"
        )
    return model


__all__ = ["SRDiffPlanModel", "SRDiffTargetSpace", "load", "matlab_bicubic", "reference_lr_up"]
