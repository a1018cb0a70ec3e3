"""Training loop for conditional diffusion SR models.

AdamW, EMA of the weights, gradient clipping, classifier-free condition
dropout, checkpoints every N steps with exact resume, seeded, bf16/fp16
autocast on CUDA.  The loop owns no data logic: it draws ``(lr, hr)`` batches
from a :class:`PairSource` that the method builds with its plugin's
degradation model.  A batch may carry extra tensors (``(lr, hr, extras)``,
e.g. blur-kernel codes or a reference image) and a method may
replace the loss (``loss_fn``, a :data:`LossFn`): the loop then passes the
batch through untouched.

Randomness lives on the CPU: timesteps, noise and condition dropout are drawn
from a CPU generator (seeded ``seed + 1``) and moved to the device, so a run
started on one device resumes on another with the same draws.  On CUDA,
bf16 autocast is used where the GPU supports it natively, else fp16 with a
gradient scaler whose state is saved with the training state.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from restore_core.context import RunContext
from restore_core.diffusion.forward import q_sample
from restore_core.diffusion.guidance import drop_condition
from restore_core.diffusion.parameterization import v_target
from restore_core.diffusion.residual_shift import rs_q_sample
from restore_core.engine.checkpoint import (
    CheckpointError,
    capture_rng_state,
    load_checkpoint,
    load_training_state,
    restore_rng_state,
    save_checkpoint,
    save_training_state,
)
from restore_core.engine.sampling import Condition
from restore_core.engine.sr_model import SRDiffusionModel, hr_size_for

def charbonnier_loss(output: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Mean of sqrt((output - target)^2 + eps^2): a smooth L1 (Charbonnier et al. 1994; Lai et al. 2017, eq. 2)."""
    return torch.sqrt((output - target).pow(2) + eps * eps).mean()


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "l2": F.mse_loss,
    "l1": F.l1_loss,
    "charbonnier": charbonnier_loss,
}


Batch = tuple  # (lr, hr) or (lr, hr, extras: dict[str, Tensor])


class PairSource(Protocol):
    """Yields training batches ``(lr, hr)`` or ``(lr, hr, extras)`` and can save/restore its random state.

    A source may also define ``set_step(step)``: the loop calls it before
    drawing each batch (curricula that depend on training progress).
    """

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...

    def state(self) -> torch.Tensor: ...

    def set_state(self, state: torch.Tensor) -> None: ...


@dataclass
class TrainSettings:
    """The ``train`` section of a method config."""

    steps: int
    lr: float
    weight_decay: float
    ema_decay: float
    grad_clip: float
    checkpoint_every: int
    p_uncond: float
    loss: str
    trainable: tuple[str, ...] | None = None

    @classmethod
    def from_config(cls, train_cfg: Mapping[str, Any], max_steps: int | None = None) -> "TrainSettings":
        return cls(
            steps=int(max_steps or train_cfg["steps"]),
            lr=float(train_cfg["lr"]),
            weight_decay=float(train_cfg["weight_decay"]),
            ema_decay=float(train_cfg["ema_decay"]),
            grad_clip=float(train_cfg["grad_clip"]),
            checkpoint_every=int(train_cfg["checkpoint_every"]),
            p_uncond=float(train_cfg.get("p_uncond", 0.0)),
            loss=str(train_cfg.get("loss", "l2")),
            trainable=trainable_names(train_cfg.get("trainable")),
        )


def trainable_names(value: Any) -> tuple[str, ...] | None:
    """``train.trainable`` as a tuple of module names: a list, or one name as a string."""
    if not value:
        return None
    return (str(value),) if isinstance(value, str) else tuple(str(v) for v in value)


def freeze_except(model: torch.nn.Module, prefixes: Sequence[str]) -> list[torch.nn.Parameter]:
    """Freeze every parameter whose name starts with none of ``prefixes``; return the trainable ones.

    Fine-tuning a part of a network (``train.trainable``), e.g. a kernel
    predictor on larger patches after the joint training.  A prefix matches
    whole name components (``encoder`` matches ``encoder.body.0.weight``,
    not ``encoder_proj.weight``).
    """
    names = [name for name, _ in model.named_parameters()]
    unused = [p for p in prefixes if not any(n == p or n.startswith(f"{p}.") for n in names)]
    if unused:
        tops = sorted({n.split(".")[0] for n in names})
        raise ValueError(f"train.trainable: {unused[0]!r} names no parameters; top-level modules: {', '.join(tops)}")
    trainable = []
    for name, parameter in model.named_parameters():
        keep = any(name == p or name.startswith(f"{p}.") for p in prefixes)
        parameter.requires_grad_(keep)
        if keep:
            trainable.append(parameter)
    return trainable


def regression_target(model: SRDiffusionModel, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """What the network learns to output: eps (Ho et al. eq. 14), x0, or v (Salimans & Ho 2022)."""
    if model.prediction_type == "epsilon":
        return noise
    if model.prediction_type == "sample":
        return x0
    alpha_bar = model.schedule.alpha_bar(t.cpu()).to(x0.device, torch.float32)
    return v_target(x0, noise, alpha_bar.view(-1, *([1] * (x0.ndim - 1))))


@dataclass
class NoisyInput:
    """One draw of the forward process for a batch: what a diffusion loss compares."""

    x0: torch.Tensor  # the clean target (in the model's target space)
    x_t: torch.Tensor  # its noisy version at step t
    t: torch.Tensor  # (B,) timesteps
    noise: torch.Tensor  # the Gaussian noise drawn
    cond: Condition  # the condition, after classifier-free dropout


def noisy_input(
    model: SRDiffusionModel, lr: torch.Tensor, hr: torch.Tensor, generator: torch.Generator, settings: TrainSettings,
    cond: Condition | None = None,
) -> NoisyInput:
    """Draw t and noise and corrupt the target (Ho et al. 2020, eq. 4; ResShift eq. 1 for that process).

    ``cond`` replaces ``model.condition(lr, ...)`` for methods with richer conditions.
    """
    if cond is None:
        cond = model.condition(lr, tuple(hr.shape[2:]))
    x0 = model.to_target(hr, cond)
    # drawn on the generator's device (the CPU in training) and moved: same draws on every device
    t = torch.randint(0, model.schedule.num_train_timesteps, (hr.shape[0],), generator=generator, device=generator.device).to(hr.device)
    noise = torch.randn(x0.shape, generator=generator, device=generator.device).to(hr.device)
    if model.process == "residual_shift":  # Yue et al. 2023 eq. 1 marginal; the net predicts x0
        x_t = rs_q_sample(x0, model.shift_origin(cond), t, noise, model.schedule).to(x0.dtype)  # type: ignore[arg-type]
    else:
        x_t = q_sample(x0, t, noise, model.schedule).to(x0.dtype)  # type: ignore[arg-type]
    if settings.p_uncond > 0:
        # one keep-mask for every condition tensor: a sample loses all of its condition at once
        _, keep = drop_condition(x0, settings.p_uncond, generator)
        cond = Condition({k: v * keep.view(-1, *([1] * (v.ndim - 1))).to(v.dtype) for k, v in cond.tensors.items()})
    return NoisyInput(x0, x_t, t, noise, cond)


def diffusion_loss(
    model: SRDiffusionModel, lr: torch.Tensor, hr: torch.Tensor, generator: torch.Generator, settings: TrainSettings
) -> torch.Tensor:
    """One Monte-Carlo term of the simple diffusion loss (Ho et al. 2020, eq. 14)."""
    draw = noisy_input(model, lr, hr, generator, settings)
    output = model.denoise(draw.x_t, draw.t, draw.cond)
    return LOSSES[settings.loss](output, regression_target(model, draw.x0, draw.noise, draw.t))


LossFn = Callable[[torch.nn.Module, tuple, torch.Generator, TrainSettings], "torch.Tensor | tuple[torch.Tensor, dict[str, float]]"]
"""``loss_fn(model, batch, generator, settings)`` -> loss, or (loss, named terms to log)."""


def default_loss(model: torch.nn.Module, batch: tuple, generator: torch.Generator, settings: TrainSettings) -> torch.Tensor:
    lr, hr = batch[0], batch[1]
    return diffusion_loss(model, lr, hr, generator, settings)  # type: ignore[arg-type]


def batch_to(batch: tuple, device: str) -> tuple:
    """Move ``(lr, hr[, extras])`` to ``device``."""
    moved = [b.to(device) for b in batch[:2]]
    if len(batch) > 2:
        moved.append({k: v.to(device) for k, v in batch[2].items()})
    return tuple(moved)


def native_bf16() -> bool:
    """True when the CUDA device computes bf16 natively (emulated bf16 is slow: use fp16 then)."""
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # torch < 2.4 has no including_emulation (and reports native support only)
        return bool(torch.cuda.is_bf16_supported())


def amp_dtype(device: str) -> torch.dtype | None:
    """The autocast dtype of a device, decided once per run: None (fp32) on CPU."""
    if not device.startswith("cuda"):
        return None
    return torch.bfloat16 if native_bf16() else torch.float16


def _autocast(device: str, dtype: torch.dtype | None) -> Any:
    if dtype is None:
        return torch.autocast("cpu", enabled=False)
    return torch.autocast("cuda", dtype=dtype)


def _resume(
    last: Path, state_file: Path, model: torch.nn.Module, ema: AveragedModel, optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler, generator: torch.Generator, pairs: PairSource, device: str,
    trainable: Sequence[str] | None = None,
) -> tuple[int, float | None]:
    """Load weights, optimizer, scaler and random states of an interrupted run; return its step and the
    seconds it had trained (None for states written before the seconds were kept)."""
    modules, card = load_checkpoint(last, device=device)
    state = load_training_state(state_file)
    before = (state.extra or {}).get("trainable")
    if before is not None and list(before) != list(trainable or ()):
        raise CheckpointError(
            last, f"this run trained {list(before) or 'all parameters'}, not {list(trainable or ()) or 'all parameters'} "
            "(train.trainable): use the same setting to resume, or another --out"
        )
    if card.get("steps") != state.step:
        raise CheckpointError(
            last, f"checkpoint and training state disagree: {last.name} is at step {card.get('steps')}, "
            f"{state_file.name} at step {state.step}; remove both to start afresh"
        )
    model.load_state_dict(modules["model"])
    ema.module.load_state_dict(modules["ema"])
    optimizer.load_state_dict(state.optimizer_state)
    extra = state.extra or {}
    generator.set_state(extra["generator"])
    pairs.set_state(extra["pairs"])
    ema.n_averaged.fill_(int(extra["ema_n"]))
    if extra.get("scaler") and scaler.is_enabled():
        scaler.load_state_dict(extra["scaler"])
    if state.rng_state:
        restore_rng_state(state.rng_state)
    seconds = extra.get("seconds")
    return int(state.step), None if seconds is None else float(seconds)


def train_model(
    model: SRDiffusionModel,
    pairs: PairSource,
    settings: TrainSettings,
    output_dir: Path,
    context: RunContext,
    card: dict[str, Any],
    validate: Callable[[torch.nn.Module], dict[str, float]] | None = None,
    loss_fn: LossFn | None = None,
) -> Path:
    """Train ``model`` and write ``output_dir/model.safetensors`` (EMA weights) with its card.

    Resumes from ``output_dir/last.safetensors`` and ``training_state.safetensors``
    when they exist, continuing bit-for-bit where the previous run stopped.
    """
    device = context.device
    output_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(context.seed)
    model.to(device).train()
    parameters = freeze_except(model, settings.trainable) if settings.trainable else list(model.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=settings.lr, weight_decay=settings.weight_decay)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(settings.ema_decay), use_buffers=True)
    dtype = amp_dtype(device)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    generator = torch.Generator().manual_seed(int(context.seed) + 1)  # on the CPU: see the module docstring
    last, state_file = output_dir / "last.safetensors", output_dir / "training_state.safetensors"
    start, earlier = 0, 0.0
    if last.is_file() and state_file.is_file():
        start, earlier = _resume(last, state_file, model, ema, optimizer, scaler, generator, pairs, device, settings.trainable)
        context.log(f"resuming from step {start}")
        if earlier is None:  # a state from before the seconds were kept: the card counts this leg only
            card = {**card, "train_seconds_from_step": start}
            earlier = 0.0
    batches = iter(pairs)
    loss_fn = loss_fn or default_loss
    set_step = getattr(pairs, "set_step", None)
    losses: list[float] = []
    terms: dict[str, list[float]] = {}
    began = time.time()
    for step in context.progress(range(start, settings.steps), total=settings.steps - start, desc="training"):
        if set_step is not None:
            set_step(step)
        batch = batch_to(next(batches), device)
        with _autocast(device, dtype):
            result = loss_fn(model, batch, generator, settings)
        loss, named = result if isinstance(result, tuple) else (result, {})
        for key, value in named.items():
            terms.setdefault(key, []).append(float(value))
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"training diverged at step {step}: loss {loss.item()}")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(parameters, settings.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        ema.update_parameters(model)
        losses.append(loss.item())
        done = step + 1
        if done % settings.checkpoint_every == 0 or done == settings.steps:
            save_checkpoint(last, {"model": model.state_dict(), "ema": ema.module.state_dict()}, {**card, "steps": done})
            save_training_state(
                state_file,
                optimizer.state_dict(),
                done,
                rng_state=capture_rng_state(),
                extra={
                    "generator": generator.get_state(), "pairs": pairs.state(), "ema_n": int(ema.n_averaged),
                    "scaler": scaler.state_dict(), "trainable": list(settings.trainable or ()),
                    "seconds": earlier + time.time() - began,
                },
            )
            recent = sum(losses[-100:]) / max(1, len(losses[-100:]))
            parts = "".join(f"  {k} {sum(v[-100:]) / max(1, len(v[-100:])):.4f}" for k, v in terms.items())
            context.log(f"step {done}/{settings.steps}  loss {recent:.4f}{parts}  {time.time() - began:.0f}s")
    ema.module.eval()
    scores = validate(ema.module) if validate else {}
    final_card = {**card, "steps": settings.steps, "validation": scores, "train_seconds": round(earlier + time.time() - began, 1)}
    return save_checkpoint(output_dir / "model.safetensors", {"model": ema.module.state_dict()}, final_card)


__all__ = [
    "TrainSettings", "PairSource", "freeze_except", "trainable_names", "LossFn", "NoisyInput", "train_model", "diffusion_loss", "noisy_input",
    "regression_target", "charbonnier_loss", "LOSSES", "hr_size_for",
]
