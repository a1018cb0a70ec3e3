"""DisC-Diff's training ideas through the method the registry builds: its curriculum and its loss.

The method comes from the mri plugin's registry and its config from
``api.prepare`` (defaults + overrides), as ``restore train`` gets them; the
tests use what the training loop uses: ``pair_source`` and
``training_loss``.  Each docstring names the removal that was checked to
make the test fail (applied in a separate git worktree, this file run
against it).
"""
from __future__ import annotations

import math

import torch
from omegaconf import OmegaConf

from restore_core import api
from restore_core.engine.training import TrainSettings

SCALE = 2


def disc_diff(*overrides: str):
    """The registered method and its resolved config."""
    record, cfg = api.prepare("mri", "disc-diff", overrides=list(overrides))
    return record.registry.get("methods", "disc-diff").factory(), cfg


def training_slices() -> list[torch.Tensor]:
    """(target, reference) slices in [-1, 1]: two smooth ones and two whose target has Nyquist stripes.

    The in-plane k-space truncation removes the stripes, so a patch of a
    striped slice is hard (much detail lost), one of a smooth slice easy.
    """
    y, x = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    smooth = 0.5 * torch.sin(x / 9) * torch.cos(y / 11)
    stripes = 0.6 * (1 - 2 * (x % 2))
    reference = 0.4 * torch.cos((x + y) / 13)
    return [torch.stack([smooth + shift, reference]) for shift in (0.0, 0.1)] + [
        torch.stack([0.3 * smooth + stripes + shift, reference]) for shift in (0.0, 0.1)
    ]


def striped(hr: torch.Tensor) -> torch.Tensor:
    """Which patches of a (B, 1, h, w) batch came from a striped slice: neighbouring pixels differ by ~1.2 there, < 0.1 elsewhere."""
    jump = torch.maximum((hr[..., :, 1:] - hr[..., :, :-1]).abs().flatten(1).mean(1), (hr[..., 1:, :] - hr[..., :-1, :]).abs().flatten(1).mean(1))
    return jump > 0.5


def test_curriculum_serves_easy_patches_first_then_everything():
    """Pins DisC-Diff's curriculum (paper sec. 2.3): ``pair_source`` ranks patches by the detail the degradation removed.

    Half of the training slices are striped (hard).  At step 0 a batch is
    drawn from the easiest quarter of a 4x pool, so at most 1 of the first
    40 patches is striped (a uniform draw gives ~20); once ``ramp_steps``
    have passed (the training loop reports the step through ``set_step``),
    the striped half is served too.  Checked to fail when
    ``DiscDiffMethod.pair_source`` returns ``PatchPairs`` instead of
    ``CurriculumPairs``, and when ``detail_difficulty`` scores every patch
    the same.
    """
    method, cfg = disc_diff("train.patch=16", "train.batch_size=2", "train.curriculum.pool_factor=4",
                            "train.curriculum.start_fraction=0.25", "train.curriculum.ramp_steps=8")
    pairs = method.pair_source(training_slices(), cfg, {SCALE: method.degradation(cfg, SCALE)})
    batches = iter(pairs)
    early = torch.cat([striped(next(batches)[1]) for _ in range(20)])
    assert early.numel() == 40 and int(early.sum()) <= 1
    pairs.set_step(8)
    late = torch.cat([striped(next(batches)[1]) for _ in range(20)])
    assert int(late.sum()) >= 10


def test_training_loss_is_charbonnier_on_x0_plus_the_disentanglement_term():
    """Pins DisC-Diff's loss (paper eq. 6) as ``training_loss(cfg)`` computes it on a fixed batch.

    The expected value is computed here from the network's own outputs of
    that call: mean sqrt((x0_hat - hr)^2 + 1e-3^2) (Charbonnier; the target
    is the HR slice, ``model.prediction=sample``) plus lambda_dis times
    sum_{i<j} |s_i - s_j|^2 / sum_{i<j} |p_i - p_j|^2 over the three
    streams' shared (s) and specific (p) bottleneck parts.  The HR slice is
    zero on its left half, where the freshly built network's
    zero-initialised output is exact: there Charbonnier costs 1e-3 a pixel
    and L1 nothing.  Checked to fail when ``make_loss`` uses L2
    (``F.mse_loss``) or L1 instead of ``charbonnier_loss``, and when it
    drops the disentanglement term.
    """
    method, cfg = disc_diff("model.prediction=sample", "disc_diff.lambda_dis=0.5", "disc_diff.p_drop_reference=0",
                            "model.denoiser.channels=[8,16]", "model.denoiser.attention_levels=[false,false]",
                            "model.denoiser.norm_num_groups=4", "model.denoiser.num_head_channels=8")
    torch.manual_seed(0)
    model = method.build_model(cfg, 1)
    generator = torch.Generator().manual_seed(1)
    hr = torch.randn(2, 1, 16, 16, generator=generator)
    hr[..., :8] = 0.0
    batch = (torch.randn(2, 1, 8, 8, generator=generator), hr, {"ref": torch.randn(2, 1, 16, 16, generator=generator)})
    calls = []
    network = model.denoiser.forward_with_parts
    model.denoiser.forward_with_parts = lambda *args: calls.append(network(*args)) or calls[-1]
    settings = TrainSettings.from_config(OmegaConf.to_container(cfg.train, resolve=True))
    total, _ = method.training_loss(cfg)(model, batch, torch.Generator().manual_seed(2), settings)
    assert len(calls) == 1
    output, shared, specific = (value.detach() if isinstance(value, torch.Tensor) else [v.detach() for v in value] for value in calls[0])
    charbonnier = torch.sqrt((output - hr) ** 2 + 1e-6).mean()
    pairs = [(i, j) for i in range(3) for j in range(i + 1, 3)]
    together = sum(float((shared[i] - shared[j]).pow(2).mean()) for i, j in pairs)
    apart = sum(float((specific[i] - specific[j]).pow(2).mean()) for i, j in pairs)
    expected = float(charbonnier) + 0.5 * together / apart
    assert math.isclose(float(total.detach()), expected, rel_tol=1e-5)
    assert abs(float((output - hr).pow(2).mean()) - float(charbonnier)) > 0.1  # the batch tells Charbonnier from L2
