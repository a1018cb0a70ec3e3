"""Run a published DisC-Diff checkpoint (Yebulabula/DisC-Diff ``SuperResModel``) with ``--method disc-diff``.

``load(spec, path, weights, device)`` (the contract of
:mod:`restore_core.published.runners`) builds the reference network
(:mod:`restore_core.published.disc_diff`), loads the file strictly (the
reference saves a plain ``model.state_dict()``; wrapped files are unwrapped
by :func:`~restore_core.published.state_files.load_into`) and returns a
:class:`DiscDiffRunner`, the plan-model interface of
:func:`restore_core.engine.plan.run_plan` that the project's
``sample_disc_diff`` drives unchanged (``condition(lr, hr_size, ref)``).

Facts taken from the reference (commit 53e4295, files named):

* **Outputs.** ``SuperResModel.forward(x, t, low_res=..., other=...)``
  returns seven tensors; the sampler keeps the last one
  (``gaussian_diffusion.py`` ``p_mean_variance``: ``(_, _, _, _, _, _,
  model_output) = model_output``) and, with ``learn_sigma``, splits it into
  the ``C`` prediction channels and ``C`` variance channels
  (``th.split(model_output, C, dim=1)``).  The runner keeps the first ``C``;
  the learned variance is not used (the project's samplers use fixed
  variances or none).
* **Parameterisation.** ``predict_xstart: false`` -> ``ModelMeanType.EPSILON``
  (``script_util.create_gaussian_diffusion``): the network predicts the noise.
  ``predict_xstart: true`` (x0) is also handled.
* **Schedule.** ``get_named_beta_schedule(noise_schedule, diffusion_steps)``:
  ``linear`` = ``linspace(s 1e-4, s 0.02, T)`` with ``s = 1000 / T``;
  ``cosine`` = Nichol & Dhariwal's ``alpha_bar`` with ``max_beta = 0.999``.
  ``rescale_timesteps: false`` (the published config): the network sees the
  training-chain step ``t`` itself (respacing maps the respaced index back
  to it, ``respace._WrappedModel``).
* **Image range.** The data are NOT mapped to [-1, 1]: ``dataset/data_processing.py``
  ``normalize`` maps each volume to [0, 1] (``x -= min; x /= max``) and
  ``image_datasets.BraTSMRI`` / ``train_util`` feed those values unchanged as
  ``x_0`` (the HR target contrast), ``low_res`` and ``other``.
* **low_res.** The LR target contrast on the HR grid: ``BraTSMRI`` reshapes
  the LR array with the HR array's ``h, w``, and ``getLR`` degrades by
  keeping the centre of k-space (``1 / (2 s)`` of each in-plane axis) and
  taking ``abs`` of the inverse FFT; the same-size arrays are the
  zero-filled version (the masked branch of ``getLR``).  The runner
  zero-fills the LR slice's spectrum to the HR grid (sinc interpolation) and
  takes ``abs`` in the reference's [0, 1] units.  The factor is the one the
  checkpoint was trained for: ``DisC_Diff_X4_IXI.pt`` is x4, so run it with
  ``--scale 4`` (the method takes its factors from ``--scale``).
* **other.** The HR reference contrast (T1 for the IXI models), same grid,
  [0, 1].  Without a reference the runner gives ``other = 0`` (an empty
  image; the published model never saw one missing).

**Units.** The project's methods sample in model units [-1, 1]
(``x_p = 2 x_r - 1``).  A variance-preserving diffusion of ``x_r`` with
``alpha_bar(t)`` is *exactly* a variance-preserving diffusion of ``x_p`` with

    alpha_bar_p(t) = alpha_bar(t) / (4 - 3 alpha_bar(t))

and states related by ``x_t,r = (sqrt(4 - 3 alpha_bar) x_t,p + sqrt(alpha_bar)) / 2``,
with the *same* noise ``eps`` (the signal-to-noise ratio is divided by 4 because
the signal doubles; the Markov chains' joint laws agree, so DDPM and DDIM steps
map onto the reference's ones).  So the runner's ``schedule`` is this
``alpha_bar_p`` (its betas ``1 - alpha_bar_p(t) / alpha_bar_p(t - 1)``), the
plan's states, x0 estimates, clipping and k-space consistency stay in model
units, and ``denoise`` evaluates the network at ``x_t,r`` and returns its
``eps`` unchanged (or ``2 x0_r - 1`` for an x0 model).  ``reference_schedule``
keeps the reference's own betas.

Sizes: the network halves its input ``len(channel_mult) - 1`` times (32x for
the IXI models); other sizes are padded (replicate) to the next multiple and
cropped back.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from restore_core.diffusion.schedules import (
    NoiseSchedule,
    cosine_schedule,
    linear_schedule,
)
from restore_core.diffusion.spaces import PixelSpace
from restore_core.engine.prior import UnconditionalPrior, schedule_settings
from restore_core.engine.sampling import Condition

__all__ = ["DiscDiffRunner", "load", "model_unit_schedule", "reference_betas", "to_reference_state", "zero_fill_upsample"]


def reference_betas(schedule: str, steps: int) -> NoiseSchedule:
    """guided-diffusion's ``get_named_beta_schedule(schedule, steps)`` (float64)."""
    if schedule == "linear":
        scale = 1000.0 / steps
        return linear_schedule(steps, scale * 1e-4, scale * 0.02)
    if schedule == "cosine":
        return cosine_schedule(steps, s=0.008, max_beta=0.999)
    raise ValueError(f"DisC-Diff: unknown noise_schedule '{schedule}' (guided-diffusion knows linear and cosine)")


def model_unit_schedule(reference: NoiseSchedule) -> NoiseSchedule:
    """The same diffusion for data in [-1, 1] instead of [0, 1]: ``alpha_bar / (4 - 3 alpha_bar)``."""
    alpha_bar = reference.alphas_cumprod
    scaled = alpha_bar / (4.0 - 3.0 * alpha_bar)
    previous = torch.cat([torch.ones(1, dtype=torch.float64), scaled[:-1]])
    return NoiseSchedule(1.0 - scaled / previous)


def to_reference_state(x_t: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """A model-unit state ``x_t`` at ``alpha_bar`` (the reference's, per sample) as the reference's state."""
    shape = (-1,) + (1,) * (x_t.ndim - 1)
    alpha_bar = alpha_bar.to(torch.float64).view(shape)
    return ((torch.sqrt(4.0 - 3.0 * alpha_bar) * x_t.double() + torch.sqrt(alpha_bar)) / 2.0).to(x_t.dtype)


def zero_fill_upsample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Zero-fill the centred spectrum of ``(B, C, h, w)`` to ``size`` (sinc interpolation), values kept.

    Fourier-series normalisation (``norm="forward"``), so a constant stays that
    constant; an even length's Nyquist bin is split over +-N/2.
    """
    out = x
    for dim, n_out in zip((-2, -1), size):
        n_in = out.shape[dim]
        if n_out == n_in:
            continue
        if n_out < n_in:
            raise ValueError(f"zero_fill_upsample: size {n_out} is smaller than the input's {n_in}")
        spectrum = torch.fft.fft(out.movedim(dim, -1), dim=-1, norm="forward")
        padded = spectrum.new_zeros(*spectrum.shape[:-1], n_out)
        half = n_in // 2
        if n_in % 2:  # bins 0..half and -half..-1
            padded[..., : half + 1] = spectrum[..., : half + 1]
            padded[..., n_out - half:] = spectrum[..., n_in - half:]
        else:  # the Nyquist bin n_in/2 goes half to +n_in/2, half to -n_in/2
            padded[..., :half] = spectrum[..., :half]
            padded[..., n_out - half + 1:] = spectrum[..., n_in - half + 1:]
            padded[..., half] = spectrum[..., half] / 2
            padded[..., n_out - half] = spectrum[..., half] / 2
        out = torch.fft.ifft(padded, dim=-1, norm="forward").real.movedim(-1, dim).to(x.dtype)
    return out.contiguous()


class DiscDiffRunner(nn.Module):
    """A DisC-Diff ``SuperResModel`` as a plan model of the project's ``disc-diff`` method (module docstring)."""

    process = "gaussian"
    wavelet = False
    spatial_dims = 2

    def __init__(self, network: nn.Module, diffusion: Mapping[str, Any]) -> None:
        super().__init__()
        self.network = network
        settings = schedule_settings(diffusion)
        self.learn_sigma_channels = bool(settings.get("learn_sigma", False))
        self.channels = int(network.in_channels)
        self.target_channels = self.channels
        expected = 2 * self.channels if self.learn_sigma_channels else self.channels
        if int(network.out_channels) != expected:
            raise ValueError(
                f"DisC-Diff: learn_sigma={self.learn_sigma_channels} needs out_channels={expected}, the network has {network.out_channels}"
            )
        self.predicts_x0 = str(settings.get("prediction", "eps")) in ("x0", "sample")
        self.prediction_type = "sample" if self.predicts_x0 else "epsilon"
        self.rescale_timesteps = bool(settings.get("rescale_timesteps", False))
        self.reference_schedule = reference_betas(str(settings.get("beta_schedule", "linear")), int(settings.get("timesteps", 1000)))
        self.schedule = model_unit_schedule(self.reference_schedule)
        self.space = PixelSpace()
        self.multiple = 2 ** (len(network.channel_mult) - 1)

    # -- conditioning ----------------------------------------------------------------------
    def condition(self, lr: torch.Tensor, hr_size: tuple[int, ...], ref: torch.Tensor | None = None) -> Condition:
        """``low_res`` = |zero-filled LR| and ``other`` = the reference, both in the reference's [0, 1];
        ``up_lr`` = that same upsampled LR in model units (for the plan's starts)."""
        low_res = zero_fill_upsample((lr + 1.0) / 2.0, tuple(int(s) for s in hr_size)).abs()
        other = (ref + 1.0) / 2.0 if ref is not None else torch.zeros_like(low_res)
        return Condition({"up_lr": 2.0 * low_res - 1.0, "low_res": low_res, "other": other.to(low_res.dtype)})

    # pixel space in model units, as an unconditional prior's: the target is the HR image itself
    target_grid = UnconditionalPrior.target_grid
    to_target = UnconditionalPrior.to_target
    from_target = UnconditionalPrior.from_target

    def shift_origin(self, cond: Condition) -> torch.Tensor:
        return cond.tensors["up_lr"]

    # -- the network -----------------------------------------------------------------------
    def reference_output(self, x_r: torch.Tensor, t: torch.Tensor, low_res: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        """The reference sampler's ``model_output`` (the seventh output, variance channels dropped) for
        reference-unit inputs, padded to the network's multiple and cropped back."""
        height, width = x_r.shape[-2:]
        pad_h, pad_w = (-height) % self.multiple, (-width) % self.multiple
        inputs = [x_r, low_res, other]
        if pad_h or pad_w:
            inputs = [F.pad(v, (0, pad_w, 0, pad_h), mode="replicate") for v in inputs]
        steps = t.float() * (1000.0 / self.reference_schedule.num_train_timesteps) if self.rescale_timesteps else t
        output = self.network(inputs[0], steps, low_res=inputs[1], other=inputs[2])[-1]
        return output[:, : self.channels, :height, :width]

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, cond: Condition | None) -> torch.Tensor:
        """eps (or x0 in model units) for the model-unit state ``x_t`` at training-chain steps ``t``."""
        t = t.reshape(-1).expand(x_t.shape[0]) if t.numel() == 1 else t.reshape(-1)
        if cond is None:  # no condition at all: an empty LR and an empty reference
            zeros = torch.zeros_like(x_t)
            low_res, other = zeros, zeros
        else:
            low_res, other = cond.tensors["low_res"], cond.tensors["other"]
        alpha_bar = self.reference_schedule.alpha_bar(t.to(torch.long).cpu()).to(x_t.device)
        x_r = to_reference_state(x_t, alpha_bar)
        output = self.reference_output(x_r, t.to(x_t.device), low_res.to(x_t.dtype), other.to(x_t.dtype))
        return 2.0 * output - 1.0 if self.predicts_x0 else output

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: Condition | None = None) -> torch.Tensor:
        return self.denoise(x_t, t, cond)


def load(spec: Mapping[str, Any], path: Path, weights: Any, device: str) -> DiscDiffRunner:
    """The runner contract: the reference network from ``spec["config"]``, ``path`` loaded strictly."""
    from restore_core.published import build
    from restore_core.published.state_files import load_into

    network = build(str(spec["arch"]), dict(spec["config"]))
    load_into(network, path, wrapper=(spec.get("extra") or {}).get("wrapper"), what="DisC-Diff's SuperResModel")
    diffusion = dict(spec.get("diffusion") or {})
    if "learn_sigma" not in diffusion:  # the file says it: 2 C output channels are [eps, v]
        diffusion["learn_sigma"] = int(network.out_channels) == 2 * int(network.in_channels)
    return DiscDiffRunner(network.eval(), diffusion).to(device)
