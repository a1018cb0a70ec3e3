"""Run a published ResShift checkpoint (zsyOAOA/ResShift ``UNetModelSwin`` + ``VQModelTorch``) with the ``resshift`` method.

``restore --plugin image lr.png --method resshift --weights resshift-realsr-x4-s4-v3 consistency.name=null``

What the adapter reproduces, read from the reference's sampling code at commit
3ce1d81e8402fd50083809ae288a3977f6921bdd (``sampler.py: ResShiftSampler.sample_func``,
``models/gaussian_diffusion.py: get_named_eta_schedule, GaussianDiffusion``,
``models/script_util.py: create_gaussian_diffusion``, ``models/respace.py``):

* **schedule**: ``get_named_eta_schedule('exponential', steps, min_noise_level, etas_end, kappa,
  {power})`` computed in float64 exactly as the reference does (:func:`reference_etas`), wrapped in
  the engine's :class:`~restore_core.diffusion.residual_shift.ResidualShiftSchedule` with the entry's
  ``kappa``;
* **latent space**: the chain runs on ``scale_factor * encode(x)`` of the VQ autoencoder
  (``encode_first_stage``: the pre-quantisation latent); its origin y0 is the latent of the *bicubically
  upsampled* LQ image (``encode_first_stage(y, up_sample=True)``, ``F.interpolate(scale_factor=sf,
  mode='bicubic')``); the result is ``decode(z / scale_factor)`` (``decode_first_stage``: quantised);
* **padding**: the LQ image is reflect-padded on the bottom/right to a multiple of 16 pixels
  (``padding_offset``) before anything else, and the decoded image cropped back;
* **network input**: ``_scale_input``: ``x_t / sqrt(kappa^2 eta_t + 1)`` for latents
  (``normalize_input`` and ``latent_flag``), ``x_t / (3 kappa sqrt(eta_t) + 1)`` for pixel chains;
  timesteps are the chain's own indices (no respacing in the published configs; a respaced
  engine chain passes the original indices, as ``_WrappedModel`` does);
* **conditioning**: ``lq`` = the padded LQ image in [-1, 1] (the reference's range: ``(im - 0.5) / 0.5``),
  at LQ resolution;
* **parameterisation**: ``predict_type`` xstart (every published config); ``residual``, ``epsilon`` and
  ``epsilon_scale`` are converted to x0 with the reference's formulas; no clipping of x0 in latent space
  (``clip_denoised = autoencoder is None``).

The images the project feeds are already in [-1, 1], so no range conversion is needed.  The
autoencoder is a second registry entry, named by the ResShift entry's ``diffusion.autoencoder``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from restore_core.diffusion.residual_shift import ResidualShiftSchedule
from restore_core.diffusion.spaces import PixelSpace
from restore_core.engine.sampling import Condition
from restore_core.errors import UsageError

#: The reference sampler's ``padding_offset`` (LQ pixels).
PADDING_OFFSET = 16
#: ``predict_type`` of the reference configs -> what the network outputs.
PREDICT_TYPES = ("xstart", "residual", "epsilon", "epsilon_scale")


def reference_etas(
    schedule_name: str, steps: int, min_noise_level: float, etas_end: float = 0.99, kappa: float = 1.0, power: float | None = None
) -> np.ndarray:
    """eta_1..eta_T of ``get_named_eta_schedule`` (float64), the reference's 'exponential' schedule:

    etas_start = min(min_noise_level / kappa, min_noise_level),
    increaser = exp(log(etas_end / etas_start) / (T - 1)),
    sqrt_eta_t = etas_start * increaser ** (linspace(0, 1, T) ** power * (T - 1)), eta = sqrt_eta ** 2.
    """
    if schedule_name != "exponential":
        raise UsageError(f"ResShift eta schedule '{schedule_name}' is not supported (only 'exponential'; 'ldm' reads a .mat file)")
    if power is None:
        raise UsageError("the ResShift 'exponential' schedule needs schedule_kwargs.power")
    etas_start = min(min_noise_level / kappa, min_noise_level)
    increaser = math.exp(1 / (steps - 1) * math.log(etas_end / etas_start))
    base = np.ones([steps]) * increaser
    power_timestep = np.linspace(0, 1, steps, endpoint=True) ** power
    power_timestep *= steps - 1
    sqrt_etas = np.power(base, power_timestep) * etas_start
    return sqrt_etas**2


def schedule_of(diffusion: Mapping[str, Any]) -> ResidualShiftSchedule:
    """The engine's schedule object holding the reference's etas for a ResShift ``diffusion`` mapping."""
    kappa = float(diffusion.get("kappa", 1.0))
    etas = reference_etas(
        str(diffusion.get("schedule_name", "exponential")), int(diffusion.get("steps", 1000)),
        float(diffusion.get("min_noise_level", 0.01)), float(diffusion.get("etas_end", 0.99)), kappa,
        (diffusion.get("schedule_kwargs") or {}).get("power"),
    )
    respacing = diffusion.get("timestep_respacing")
    if respacing is not None and int(respacing) != len(etas):
        raise UsageError("ResShift checkpoints with timestep_respacing are not supported (the published ones have none)")
    return ResidualShiftSchedule(torch.from_numpy(etas), kappa)


class ResShiftLatentModel(nn.Module):
    """A ResShift Swin-UNet and its VQ autoencoder as a plan model (``process = residual_shift``)."""

    process = "residual_shift"
    prediction_type = "sample"
    spatial_dims = 2
    wavelet = False

    def __init__(self, network: nn.Module, autoencoder: nn.Module | None, diffusion: Mapping[str, Any], channels: int = 3) -> None:
        super().__init__()
        self.network = network
        self.autoencoder = autoencoder
        self.schedule = schedule_of(diffusion)
        self.kappa = self.schedule.kappa
        self.sf = int(diffusion.get("sf", 4))
        self.scale_factor = float(diffusion.get("scale_factor") or 1.0)
        self.normalize_input = bool(diffusion.get("normalize_input", True))
        self.latent_flag = bool(diffusion.get("latent_flag", True))
        self.latent = True  # the chain runs on autoencoder latents: no pixel consistency step applies
        self.predict_type = str(diffusion.get("predict_type", "xstart"))
        if self.predict_type not in PREDICT_TYPES:
            raise UsageError(f"unknown ResShift predict_type '{self.predict_type}'; known: {', '.join(PREDICT_TYPES)}")
        self.cond_lq = bool(getattr(network, "cond_lq", True))
        self.channels = channels
        self.space = PixelSpace()
        if autoencoder is not None:
            self.factor = 2 ** (len(autoencoder.encoder.down) - 1) if hasattr(autoencoder.encoder, "down") else self._probe_factor()
            self.target_channels = int(autoencoder.quant_conv.out_channels)
        else:
            self.factor = 1
            self.target_channels = channels
        out = int(getattr(network, "out_channels", self.target_channels))
        if out != self.target_channels:
            raise UsageError(f"the ResShift network outputs {out} channels but its autoencoder's latent has {self.target_channels}")

    def _probe_factor(self) -> int:
        with torch.no_grad():
            z = self.autoencoder.encode(torch.zeros(1, self.channels, 16, 16))  # type: ignore[union-attr]
        return 16 // int(z.shape[-1])

    # -- the reference's first stage ------------------------------------------------------------
    @torch.no_grad()
    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """``encode_first_stage`` without upsampling: scale_factor * encode(image) (the pixels themselves without an autoencoder)."""
        if self.autoencoder is None:
            return image
        return self.autoencoder.encode(image) * self.scale_factor

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``decode_first_stage``: decode(z / scale_factor), quantised."""
        if self.autoencoder is None:
            return z
        return self.autoencoder.decode(z / self.scale_factor)

    # -- the plan model ------------------------------------------------------------------------
    def _check_scale(self, lr: torch.Tensor, hr_size: tuple[int, ...]) -> None:
        if tuple(hr_size) != tuple(s * self.sf for s in lr.shape[2:]):
            raise UsageError(
                f"this ResShift checkpoint upsamples ×{self.sf} (its diffusion.sf); asked for "
                f"{tuple(lr.shape[2:])} -> {tuple(hr_size)}: run it with --scale {self.sf}"
            )

    def condition(self, lr: torch.Tensor, hr_size: tuple[int, ...], *args: Any, **kwargs: Any) -> Condition:
        """``up_lr`` (bicubic, at ``hr_size``), ``lq`` (LR reflect-padded to a multiple of 16) and ``y0`` (the chain's origin:
        the latent of the bicubically ×sf upsampled padded LR)."""
        self._check_scale(lr, hr_size)
        up_lr = F.interpolate(lr, size=tuple(hr_size), mode="bicubic", align_corners=False)
        lq = pad_to_multiple(lr, PADDING_OFFSET)
        y0 = self.encode(F.interpolate(lq, scale_factor=self.sf, mode="bicubic"))
        return Condition({"up_lr": up_lr, "lq": lq, "y0": y0})

    def target_grid(self, hr_size: tuple[int, ...]) -> tuple[int, ...]:
        padded = (math.ceil(s / self.sf / PADDING_OFFSET) * PADDING_OFFSET * self.sf for s in hr_size)
        return tuple(s // self.factor for s in padded)

    def shift_origin(self, cond: Condition) -> torch.Tensor:
        """y0 of the chain: the latent of up(padded LQ)."""
        return cond.tensors["y0"]

    def to_target(self, hr: torch.Tensor, cond: Condition) -> torch.Tensor:
        """The latent of ``hr`` (reflect-padded to the chain's grid first)."""
        lq = cond.tensors["lq"]
        return self.encode(pad_to_size(hr, tuple(s * self.sf for s in lq.shape[2:])))

    def from_target(self, target: torch.Tensor, cond: Condition) -> torch.Tensor:
        """Decode the latent and crop away the padding."""
        h, w = cond.tensors["up_lr"].shape[2:]
        return self.decode(target)[..., :h, :w]

    def scale_input(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``GaussianDiffusion._scale_input`` (etas gathered in float32, as ``_extract_into_tensor`` does)."""
        if not self.normalize_input:
            return x_t
        eta = self.schedule.eta(t.cpu()).float().to(x_t.device).view(-1, *([1] * (x_t.ndim - 1)))
        if self.latent_flag:
            return x_t / torch.sqrt(eta * self.kappa**2 + 1)
        return x_t / (torch.sqrt(eta) * self.kappa * 3 + 1)

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, cond: Condition | None) -> torch.Tensor:
        """The network's x0 estimate for latent ``x_t`` at chain indices ``t`` (no clipping: the reference clips only pixel chains)."""
        if cond is None:
            raise ValueError("a ResShift checkpoint is conditional: denoise needs the condition")
        kwargs = {"lq": cond.tensors["lq"]} if self.cond_lq else {}
        output = self.network(self.scale_input(x_t, t), t, **kwargs)
        if self.predict_type == "xstart":
            return output
        y0 = cond.tensors["y0"]
        if self.predict_type == "residual":
            return y0 - output
        eta = self.schedule.eta(t.cpu()).float().to(x_t.device).view(-1, *([1] * (x_t.ndim - 1)))
        noise = output if self.predict_type == "epsilon_scale" else torch.sqrt(eta) * self.kappa * output
        return (x_t - noise - eta * y0) / (1 - eta)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: Condition | None) -> torch.Tensor:
        return self.denoise(x_t, t, cond)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Bottom/right padding to a multiple of ``multiple`` (reflect, as the reference; replicate where reflect cannot)."""
    return pad_to_size(x, tuple(math.ceil(s / multiple) * multiple for s in x.shape[2:]))


def pad_to_size(x: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    pad_h, pad_w = size[0] - x.shape[-2], size[1] - x.shape[-1]
    if pad_h == 0 and pad_w == 0:
        return x
    mode = "reflect" if pad_h < x.shape[-2] and pad_w < x.shape[-1] else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def autoencoder_name(spec: Mapping[str, Any]) -> str | None:
    """The registry name of the entry's autoencoder: ``diffusion.autoencoder`` (or a top-level ``autoencoder`` field)."""
    diffusion = spec.get("diffusion") or {}
    extra = spec.get("extra") or {}
    name = diffusion.get("autoencoder") or extra.get("autoencoder") or (extra.get("diffusion") or {}).get("autoencoder")
    return str(name) if name else None


def load(spec: Mapping[str, Any], path: Path, weights: Any, device: str) -> nn.Module:
    """The plan model of a ResShift registry entry: the Swin-UNet from ``path`` and its autoencoder from the registry."""
    from restore_core.published import build
    from restore_core.published.state_files import load_into

    diffusion = dict(spec.get("diffusion") or {})
    extra = spec.get("extra") or {}
    network = build(str(spec["arch"]), spec["config"])
    load_into(network, path, extra.get("wrapper"), what=f"architecture '{spec['arch']}' with this config")
    autoencoder = None
    if bool(diffusion.get("latent_flag", True)):
        name = autoencoder_name(spec)
        if name is None:
            raise UsageError("this ResShift entry runs in a latent space but names no autoencoder (diffusion.autoencoder: a weights registry name)")
        entry = weights.get(name)
        autoencoder = build(str(entry.arch), entry.config)
        load_into(autoencoder, weights.path_of(name), entry.wrapper, what=f"architecture '{entry.arch}' with this config")
    model = ResShiftLatentModel(network, autoencoder, diffusion)
    return model.to(device).eval()


__all__ = ["ResShiftLatentModel", "reference_etas", "schedule_of", "load", "autoencoder_name", "pad_to_multiple", "PADDING_OFFSET"]
