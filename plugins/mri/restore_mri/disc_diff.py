"""DisC-Diff (Mao, Jiang, Chen & Li, "DisC-Diff: Disentangled Conditional Diffusion Model for
Multi-Contrast MRI Super-Resolution", MICCAI 2023): restore a target contrast (T2) guided by a
high-resolution reference contrast (T1), slice by slice.

* Network: :class:`~restore_mri.disc_diff_net.DisentangledUNet`, one encoder
  stream per input (noisy target state, upsampled LR target, reference),
  shared/specific bottleneck features (paper sec. 2.2).
* Loss (paper eq. 6): Charbonnier on the predicted noise plus the
  disentanglement term ``L_dis = sum_{i<j} |s_i - s_j|^2 / sum_{i<j} |p_i - p_j|^2``
  over the streams' shared parts s and specific parts p: shared features are
  pulled together, specific ones pushed apart (``disc_diff.lambda_dis``).
* Curriculum (paper sec. 2.3, "curriculum learning by difficulty"): training
  patches are ranked by how much detail the degradation removed, the mean
  Charbonnier distance between up(LR) and HR, and served easy-first with a
  square-root competence schedule (:class:`restore_core.engine.pairs.CurriculumPairs`).
  The paper's exact difficulty measure is not in its public code; this one is
  our choice and documented as such.
* Reference dropout (``disc_diff.p_drop_reference``): the reference is zeroed
  for a fraction of training samples, so the same network also runs without
  one; the benchmark uses this to measure what the reference adds.
* Sampling: the core's sampling plan from pure noise with DDIM; with
  ``consistency.name: kspace`` (the plugin's registered sampler step) and
  ``consistency.lam > 0`` every step keeps the measured k-space centre of the
  x0 estimate (the same DDNM-style projection as R2D2+; the acquired low
  frequencies are data, not a guess).
* Network: registered as the denoiser ``disentangled_unet`` and built by name.
* Volumes: slices along the slice axis in batches, reassembled in 3D; the
  reference (``--ref``) is resampled into the output grid by the affines
  (:mod:`restore_mri.reference`); each volume is mapped to [-1, 1] by robust
  percentiles, the reference by its own.

Training data: pairs of volumes ``<target>_<id>.nii.gz`` / ``<reference>_<id>.nii.gz``
in one folder (``train.target_prefix``, ``train.reference_prefix``), on the
same grid, e.g. ``restore mri simulate`` output.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from omegaconf import DictConfig

from restore_core.context import RunContext
from restore_core.engine.loading import plain
from restore_core.engine.plan import SamplingPlan, run_plan
from restore_core.engine.sampling import Condition
from restore_core.engine.sr_method import DiffusionMethod
from restore_core.engine.sr_model import SRDiffusionModel, upsample
from restore_core.engine.training import TrainSettings, charbonnier_loss, noisy_input, regression_target
from restore_core.engine.windows.slices import BatchSampler, normalise, restore_slicewise, robust_range, to_slices
from restore_core.errors import ConfigError, InputError, UsageError
from restore_core.sample import Sample
from restore_mri.degradations import rician
from restore_mri.kspace import kspace_truncate
from restore_mri.kspace_consistency import KSpaceTruncation
from restore_mri.nifti import read_nifti
from restore_mri.r2d2 import CHECKPOINTS, _slice_axis, in_plane_factors
from restore_mri.reference import load_reference
from restore_mri.scale import scaled_length


class DiscDiffModel(SRDiffusionModel):
    """:class:`SRDiffusionModel` whose denoiser (``disentangled_unet``) also sees a reference contrast (pixel space)."""

    def condition(self, lr: torch.Tensor, hr_size: tuple[int, ...], ref: torch.Tensor | None = None) -> Condition:
        up_lr = upsample(lr, hr_size)
        return Condition({"up_lr": up_lr, "ref": ref if ref is not None else torch.zeros_like(up_lr)})

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, cond: Condition | None) -> torch.Tensor:
        if cond is None:  # the unconditional branch: no condition at all
            zeros = torch.zeros_like(x_t)
            return self.denoiser(x_t, t, zeros, zeros)
        return self.denoiser(x_t, t, cond.tensors["up_lr"], cond.tensors["ref"])


# -- the loss ----------------------------------------------------------------------------
def disentanglement_loss(shared: Sequence[torch.Tensor], specific: Sequence[torch.Tensor], eps: float = 1e-8) -> torch.Tensor:
    """DisC-Diff eq. 5: pairwise distances of the shared parts over those of the specific parts."""
    pairs = [(i, j) for i in range(len(shared)) for j in range(i + 1, len(shared))]
    together = sum((shared[i] - shared[j]).pow(2).mean() for i, j in pairs)
    apart = sum((specific[i] - specific[j]).pow(2).mean() for i, j in pairs)
    return together / (apart + eps)


def detail_difficulty(lr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Per-patch difficulty: mean Charbonnier distance between bicubic up(LR) and HR."""
    up = upsample(lr, tuple(hr.shape[2:]))
    return torch.sqrt((up - hr).pow(2) + 1e-6).flatten(1).mean(dim=1)


def make_loss(lambda_dis: float, p_drop_reference: float) -> Any:
    """The DisC-Diff training loss as a :data:`restore_core.engine.training.LossFn`."""

    def loss_fn(model: DiscDiffModel, batch: tuple, generator: torch.Generator, settings: TrainSettings) -> tuple[torch.Tensor, dict[str, float]]:
        lr, hr, extras = batch
        ref = extras["ref"]
        if p_drop_reference > 0:
            keep = (torch.rand(ref.shape[0], generator=generator, device=generator.device) >= p_drop_reference).to(ref.device)
            ref = ref * keep.view(-1, *([1] * (ref.ndim - 1))).to(ref.dtype)
        cond = model.condition(lr, tuple(hr.shape[2:]), ref)
        draw = noisy_input(model, lr, hr, generator, settings, cond=cond)
        output, shared, specific = model.denoiser.forward_with_parts(draw.x_t, draw.t, draw.cond.tensors["up_lr"], draw.cond.tensors["ref"])
        fidelity = charbonnier_loss(output, regression_target(model, draw.x0, draw.noise, draw.t))
        disentangle = disentanglement_loss(shared, specific)
        return fidelity + lambda_dis * disentangle, {"charbonnier": fidelity.item(), "disent": disentangle.item()}

    return loss_fn


# -- sampling ------------------------------------------------------------------------------
def sample_disc_diff(
    model: DiscDiffModel,
    plan: SamplingPlan,
    lr: torch.Tensor,
    ref: torch.Tensor | None,
    factors: tuple[float, float],
    generator: torch.Generator,
    lam: float = 1.0,
) -> torch.Tensor:
    """Super-resolve LR slices ``(B, 1, h, w)`` guided by reference slices ``(B, 1, H, W)`` (or none)."""
    hr_size = tuple(scaled_length(int(n), float(f)) for n, f in zip(lr.shape[2:], factors))
    operator = KSpaceTruncation(factors, hr_size=hr_size, lr_size=lr.shape[2:])
    cond = model.condition(lr, hr_size, ref)
    return run_plan(plan, model, lr, hr_size, generator, cond=cond, operator=operator, step_params={"lam": lam})


# -- the method ----------------------------------------------------------------------------
def paired_volumes(folder: Path, target_prefix: str, reference_prefix: str) -> list[tuple[Path, Path]]:
    """``(target, reference)`` files of a folder, matched by the name after the contrast prefix."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "training data for disc-diff must be a folder of paired volumes")
    pairs = []
    for target in sorted(folder.glob(f"{target_prefix}_*.nii*")):
        reference = folder / target.name.replace(f"{target_prefix}_", f"{reference_prefix}_", 1)
        if reference.is_file():
            pairs.append((target, reference))
    if not pairs:
        raise InputError(folder, f"holds no {target_prefix}_<id>.nii.gz / {reference_prefix}_<id>.nii.gz pairs")
    return pairs


class DiscDiffMethod(DiffusionMethod):
    """DisC-Diff: multi-contrast in-plane SR of a target contrast guided by a reference contrast."""

    name = "disc-diff"
    spatial_dims = 2
    checkpoint_dir = CHECKPOINTS
    plugin = "mri"
    published_archs = ("disc-diff",)

    def build_model(self, cfg: DictConfig, channels: int, networks: Any = None) -> torch.nn.Module:
        if str(cfg.model.get("space", "pixel")) != "pixel" or bool(cfg.model.get("wavelet", False)):
            raise ConfigError("disc-diff denoises the target image itself: model.space=pixel, model.wavelet=false")
        # one target channel: the training tensors' second channel is the reference, not a target channel
        networks = networks if networks is not None else self.registry()
        return DiscDiffModel(plain(cfg.model), plain(cfg.diffusion), self.spatial_dims, 1, networks)

    # -- training ------------------------------------------------------------------------
    def degradation(self, cfg: DictConfig, scale: int, context: Any = None) -> Any:
        """Channel 0 (target) -> in-plane k-space truncation (+ Rician noise in ``train.noise_sigma``); channel 1 is the reference."""
        low, high = (float(v) for v in cfg.train.get("noise_sigma", [0.0, 0.0]))
        factor = float(scale)

        def degrade(pair: torch.Tensor, generator: torch.Generator | None = None) -> Mapping[str, torch.Tensor]:
            hr, ref = pair[:, :1], pair[:, 1:2]
            lr = kspace_truncate(hr, (factor, factor), (hr.ndim - 2, hr.ndim - 1))
            if high > 0:
                u = torch.rand(lr.shape[0], generator=generator, dtype=torch.float64).to(lr.dtype)
                sigma = (low + (high - low) * u).view(-1, 1, 1, 1)
                lr = rician((lr + 1.0) / 2.0, sigma, generator) * 2.0 - 1.0
            return {"lr": lr, "hr": hr, "ref": ref}

        return degrade

    def training_images(self, data: Path, cfg: DictConfig, context: Any = None) -> Sequence[torch.Tensor]:
        """Every slice of every (target, reference) pair as a (2, H, W) tensor, each volume normalised.

        Files are read by the plugin's registered reader (pairs need two files, so the
        core's one-file-at-a-time default does not apply)."""
        registry = self.registry(context) if context is not None else None
        read = (lambda path: registry.reader_for(path).read(path, cfg)) if registry is not None else read_nifti
        percentiles = tuple((cfg.get("disc_diff") or {}).get("percentiles", (0.5, 99.5)))
        slices: list[torch.Tensor] = []
        for target_path, reference_path in paired_volumes(data, str(cfg.train.target_prefix), str(cfg.train.reference_prefix)):
            target, reference = read(target_path), read(reference_path)
            if target.data.shape != reference.data.shape:
                raise InputError(reference_path, f"has shape {reference.data.shape[1:]}, its target {target_path.name} {target.data.shape[1:]}")
            axis = _slice_axis(target, cfg)
            for t_frame, r_frame in zip(target.data, reference.data):
                pair = np.stack([normalise(t_frame, robust_range(t_frame, percentiles)), normalise(r_frame, robust_range(r_frame, percentiles))])
                for plane in np.moveaxis(pair, axis + 1, 0):  # (slices, 2, H, W): one (target, reference) pair per slice
                    if float(np.ptp(plane[0])) > 1e-6:
                        slices.append(torch.from_numpy(np.ascontiguousarray(plane)))
        return slices

    def pair_source(self, images: Sequence[torch.Tensor], cfg: DictConfig, degradations: Mapping[int, Any]) -> Any:
        from restore_core.engine.pairs import CurriculumPairs

        curriculum = cfg.train.get("curriculum") or {}
        return CurriculumPairs(
            images, patch=int(cfg.train.patch), batch_size=int(cfg.train.batch_size), degradations=degradations,
            difficulty=detail_difficulty, seed=int(cfg.seed), pool_factor=int(curriculum.get("pool_factor", 4)),
            start_fraction=float(curriculum.get("start_fraction", 0.25)), ramp_steps=int(curriculum.get("ramp_steps", 0)),
        )

    def training_loss(self, cfg: DictConfig) -> Any:
        section = cfg.get("disc_diff") or {}
        return make_loss(float(section.get("lambda_dis", 0.1)), float(section.get("p_drop_reference", 0.2)))

    def model_card(self, cfg: DictConfig, channels: int, data: Path) -> dict[str, Any]:
        return {**super().model_card(cfg, channels, data), "channels": 1}

    # -- inference -----------------------------------------------------------------------
    def restore(self, sample: Sample, cfg: DictConfig, context: RunContext) -> Sample:
        if not cfg.get("ref"):
            raise UsageError("method 'disc-diff' needs a reference contrast: --ref t1.nii.gz (without one, use --method r2d2)")
        axis, factors = in_plane_factors(sample, cfg)
        section = cfg.get("disc_diff") or {}
        factors3 = [1.0, 1.0, 1.0]
        plane_axes = [a for a in range(3) if a != axis]
        for a, f in zip(plane_axes, factors):
            factors3[a] = float(f)
        out_shape = tuple(scaled_length(int(n), f) for n, f in zip(sample.spatial_shape, factors3))
        grid = sample.geometry.scaled(factors3).affine if sample.geometry is not None else np.diag([*[1 / f for f in factors3], 1.0])
        reference = load_reference(Path(str(cfg.ref)), grid, out_shape, sample.path, float(section.get("min_overlap", 0.5)))
        if reference.overlap < 1.0:
            context.log(f"disc-diff: the reference covers {100 * reference.overlap:.0f}% of the output grid; the rest is restored without it")
        return self.restore_with_reference(sample, reference.data, axis, factors, cfg, context)

    def restore_with_reference(
        self, sample: Sample, reference: np.ndarray | None, axis: int, factors: tuple[float, float], cfg: DictConfig, context: RunContext
    ) -> Sample:
        """Restore every frame of ``sample`` with ``reference`` on the output grid (None: without a reference)."""
        loaded = self.load(cfg, 1, context)
        model = loaded.model
        plan = self.plan(cfg, loaded, context)
        section = cfg.get("disc_diff") or {}
        percentiles = tuple(section.get("percentiles", (0.5, 99.5)))
        lam = float((cfg.get("consistency") or {}).get("lam", 1.0))
        if not 0.0 <= lam <= 1.0:
            raise ConfigError(f"consistency.lam must lie in [0, 1], got {lam}")
        ref_slices = None
        if reference is not None:
            ref_slices = to_slices(normalise(reference, robust_range(reference, percentiles)), axis)

        def prepare(index: int, slices: torch.Tensor) -> BatchSampler:
            def sample_batch(lr: torch.Tensor, span: slice, generator: torch.Generator) -> torch.Tensor:
                ref = ref_slices[span].to(context.device) if ref_slices is not None else None
                return sample_disc_diff(model, plan, lr, ref, factors, generator, lam)

            return sample_batch

        return restore_slicewise(
            sample, axis, prepare, context, percentiles=percentiles,
            batch_slices=int(section.get("batch_slices", 8)), clip=bool(section.get("clip", True)),
        )
