"""Regenerate the published-architecture fixtures and manifests from reference checkouts.

    .venv-test/bin/python scripts/make_published_fixtures.py --reference-dir srdiff=/path/to/LeiaLi/SRDiff

For each ``--reference-dir ARCH=PATH`` (a git checkout of the reference
repository; its HEAD commit is recorded) this imports the reference modules
from PATH at run time, builds them, and writes
``tests/published/manifests/<arch>-<config>.json`` (every state-dict key and
shape of the full published configurations, plus the constructor arguments)
and ``tests/published/fixtures/<arch>-small*.safetensors`` (a small
random-weight state dict made by the reference, inputs and reference
outputs).  No reference code lives in this file.

Each architecture has its own clearly separated block below defining
``make_<arch with - as _>(reference_dir, repo, command)``; ``main`` finds it
by name.  Blocks go above the ``main`` section.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]

# ==================================================================================================== srdiff
# LeiaLi/SRDiff (Li et al. 2022): GaussianDiffusion holding the Unet denoiser and the RRDBNet encoder.
# The reference modules read a global ``utils.hparams.hparams`` dict while building AND in forward, so every
# reference call below runs with that dict set.  ``tasks/srdiff.py``'s own ``build_model`` turns the hparams
# into constructor arguments; it is imported with two stubs (its Trainer base class and ``utils.utils``,
# which pull tensorboard / lpips / skimage and play no part in building the model).

SRDIFF_REFERENCE_FILES = (
    "models/diffusion.py", "models/diffsr_modules.py", "models/commons.py", "models/module_util.py",
    "tasks/srdiff.py", "utils/hparams.py", "configs/diffsr_base.yaml", "configs/diffsr_df2k4x.yaml",
    "configs/diffsr_celeb.yaml",
)
#: Published configurations: manifest name -> the reference YAML they come from.
SRDIFF_PUBLISHED = {"df2k4x": "configs/diffsr_df2k4x.yaml", "celeb_a8x": "configs/diffsr_celeb.yaml"}
#: Small random-weight variants: name -> hparams overrides of configs/diffsr_base.yaml, LR side, timesteps t.
#: "small" follows the DF2K x4 layout (3 U-Net levels, cosine schedule); "small-x8" switches on every option
#: that changes the state dict or the forward (x8 RRDB, bottleneck attention, up_input, weight norm,
#: linear schedule).
SRDIFF_SMALL = {
    "small": ({"sr_scale": 4, "hidden_size": 8, "unet_dim_mults": "1|2|3", "rrdb_num_feat": 8, "rrdb_num_block": 2},
              6, [3, 97]),
    "small-x8": ({"sr_scale": 8, "hidden_size": 8, "unet_dim_mults": "1|2", "rrdb_num_feat": 4, "rrdb_num_block": 5,
                  "use_attn": True, "up_input": True, "use_wn": True, "beta_schedule": "linear", "timesteps": 20},
                 3, [0, 19]),
}


@contextlib.contextmanager
def _srdiff_imported(reference_dir: Path):
    """The reference's top-level packages (models, utils, tasks) importable from ``reference_dir``, then forgotten."""
    import types

    names = ("models", "utils", "tasks")
    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] in names}
    for key in saved:
        del sys.modules[key]
    sys.path.insert(0, str(reference_dir))
    try:
        trainer = types.ModuleType("tasks.trainer")
        trainer.Trainer = type("Trainer", (), {})  # build_model needs nothing from it
        utils_stub = types.ModuleType("utils.utils")
        utils_stub.load_ckpt = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no rrdb_ckpt in fixtures"))
        sys.modules["tasks.trainer"] = trainer
        sys.modules["utils.utils"] = utils_stub
        import utils.hparams as hparams_module  # noqa: the reference's
        from tasks.srdiff import SRDiffTrainer  # noqa: the reference's

        yield hparams_module, SRDiffTrainer
    finally:
        sys.path.remove(str(reference_dir))
        for key in [k for k in sys.modules if k.split(".")[0] in names]:
            del sys.modules[key]
        sys.modules.update(saved)


def _srdiff_reference_model(hparams_module, trainer_cls, hparams: dict):
    """The reference GaussianDiffusion built by the reference's own build_model from ``hparams``."""
    hparams_module.hparams.clear()
    hparams_module.hparams.update(hparams)
    trainer = trainer_cls.__new__(trainer_cls)
    return trainer.build_model().eval()


def _srdiff_model_hparams(resolved: dict) -> dict:
    """The model-relevant subset of a resolved SRDiff hparams dict (what restore_core's build reads)."""
    from restore_core.published.srdiff import BASE_HPARAMS

    return {k: resolved[k] for k in [*BASE_HPARAMS, "sr_scale"]}


def _srdiff_inputs(hparams: dict, lr_side: int, steps: list[int], seed: int) -> dict[str, torch.Tensor]:
    """img_lr in [-1, 1], its bicubic upsampling img_lr_up, a residual x ~ N(0, 1) and steps t (batch 2)."""
    generator = torch.Generator().manual_seed(seed)
    scale = hparams["sr_scale"]
    img_lr = torch.rand(2, 3, lr_side, lr_side, generator=generator) * 2 - 1
    img_lr_up = F.interpolate(img_lr, scale_factor=scale, mode="bicubic", align_corners=False)
    x = torch.randn(2, 3, lr_side * scale, lr_side * scale, generator=generator)
    return {"img_lr": img_lr, "img_lr_up": img_lr_up, "x": x, "t": torch.tensor(steps, dtype=torch.long)}


def _srdiff_forward(model, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """rrdb(img_lr, get_fea=True) and denoise_fn(x, t, cond, img_lr_up) of a GaussianDiffusion (reference's or ours)."""
    with torch.no_grad():
        rrdb_out, features = model.rrdb(inputs["img_lr"], get_fea=True)
        eps = model.denoise_fn(inputs["x"], inputs["t"], features, inputs["img_lr_up"])
    out = {"rrdb_out": rrdb_out, "denoise": eps}
    out.update({f"rrdb_fea.{i}": f for i, f in enumerate(features)})
    return out


def _srdiff_max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys(), (sorted(a), sorted(b))
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def _srdiff_through_published_format(state_dict: dict, workdir: Path) -> dict:
    """Round-trip through the published checkpoint layout: torch.save({'state_dict': {'model': sd}})."""
    path = workdir / "srdiff_reference.ckpt"
    torch.save({"state_dict": {"model": state_dict}}, path)
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]["model"]


def make_srdiff(reference_dir: Path, repo: Path, command: str) -> None:
    """tests/published/manifests/srdiff-{df2k4x,celeb_a8x}.json and fixtures/srdiff-small{,-x8}.safetensors."""
    import tempfile

    from safetensors.torch import save_file

    from restore_core.published import build

    commit = subprocess.run(["git", "-C", str(reference_dir), "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    manifests = repo / "tests" / "published" / "manifests"
    fixtures = repo / "tests" / "published" / "fixtures"
    manifests.mkdir(parents=True, exist_ok=True)
    fixtures.mkdir(parents=True, exist_ok=True)
    reference = {"repository": "https://github.com/LeiaLi/SRDiff", "commit": commit, "files": list(SRDIFF_REFERENCE_FILES)}
    with _srdiff_imported(reference_dir) as (hparams_module, trainer_cls), tempfile.TemporaryDirectory() as tmp:
        # --- full published configurations: keys, shapes, one forward on a small input
        for name, yaml_path in SRDIFF_PUBLISHED.items():
            resolved = hparams_module.set_hparams(config=str(reference_dir / yaml_path), print_hparams=False)
            torch.manual_seed(0)
            ref = _srdiff_reference_model(hparams_module, trainer_cls, resolved)
            config = {"hparams": _srdiff_model_hparams(resolved)}
            ours = build("srdiff", config).eval()
            ref_sd = _srdiff_through_published_format(ref.state_dict(), Path(tmp))
            ours_keys = [(k, list(v.shape)) for k, v in ours.state_dict().items()]
            ref_keys = [(k, list(v.shape)) for k, v in ref_sd.items()]
            if ours_keys != ref_keys:
                raise SystemExit(f"srdiff {name}: state-dict keys/shapes differ from the reference:\n"
                                 f"only ours: {sorted(set(map(str, ours_keys)) - set(map(str, ref_keys)))}\n"
                                 f"only reference: {sorted(set(map(str, ref_keys)) - set(map(str, ours_keys)))}")
            ours.load_state_dict(ref_sd, strict=True)
            inputs = _srdiff_inputs(resolved, 8, [0, resolved["timesteps"] - 1], seed=1)
            diff = _srdiff_max_diff(_srdiff_forward(ref, inputs), _srdiff_forward(ours, inputs))
            fresh = build("srdiff", config)
            buffer_diff = max(float((ref_sd[k] - v).abs().max()) for k, v in fresh.state_dict().items()
                              if k in fresh._buffers)
            print(f"srdiff {name}: {len(ref_keys)} keys, max |ref - ours| forward {diff:.3g}, schedule {buffer_diff:.3g}")
            manifest = {
                "arch": "srdiff",
                "configuration": name,
                "reference": {**reference, "config_file": yaml_path},
                "config": config,
                "state_dict": [[k, shape, str(ref_sd[k].dtype).replace("torch.", "")] for k, shape in ref_keys],
                "forward_check": {"lr_shape": list(inputs["img_lr"].shape), "t": inputs["t"].tolist(),
                                  "max_abs_diff": diff, "schedule_max_abs_diff": buffer_diff},
                "command": command,
            }
            (manifests / f"srdiff-{name}.json").write_text(json.dumps(manifest, indent=1) + "\n")

        # --- small random-weight fixtures
        from restore_core.published.srdiff import BASE_HPARAMS

        base = hparams_module.set_hparams(config=str(reference_dir / "configs/diffsr_base.yaml"), print_hparams=False)
        if {k: base[k] for k in BASE_HPARAMS} != BASE_HPARAMS:
            raise SystemExit(f"srdiff: BASE_HPARAMS differ from configs/diffsr_base.yaml: {base}")
        for name, (overrides, lr_side, steps) in SRDIFF_SMALL.items():
            hparams = {**base, **overrides}
            torch.manual_seed(11)
            ref = _srdiff_reference_model(hparams_module, trainer_cls, hparams)
            with torch.no_grad():
                for key, param in ref.named_parameters():
                    if key.endswith(".g"):  # ReZero gates start at 0: make the attention count
                        param.copy_(torch.randn_like(param))
                # Most of the random-init RRDB output would sit on its clamp(0, 1) and hide the up-sampling path:
                # shrink the last conv around 0.5 so the compared SR image is (nearly) unclamped.
                ref.rrdb.conv_last.weight.mul_(0.1)
                ref.rrdb.conv_last.bias.fill_(0.5)
            ref_sd = _srdiff_through_published_format(ref.state_dict(), Path(tmp))
            inputs = _srdiff_inputs(hparams, lr_side, steps, seed=2)
            outputs = _srdiff_forward(ref, inputs)
            config = {"hparams": _srdiff_model_hparams(hparams)}
            ours = build("srdiff", config).eval()
            ours.load_state_dict(ref_sd, strict=True)
            diff = _srdiff_max_diff(outputs, _srdiff_forward(ours, inputs))
            tensors = {f"state_dict.{k}": v.contiguous().clone() for k, v in ref_sd.items()}
            tensors.update({f"input.{k}": v.contiguous() for k, v in inputs.items()})
            tensors.update({f"output.{k}": v.contiguous() for k, v in outputs.items()})
            path = fixtures / f"srdiff-{name}.safetensors"
            save_file(tensors, str(path), metadata={
                "arch": "srdiff", "reference_repository": reference["repository"], "reference_commit": commit,
                "config": json.dumps(config), "command": command, "max_abs_diff_at_creation": repr(diff),
                "torch": torch.__version__,
            })
            clamped = float((outputs["rrdb_out"].abs() == 1).float().mean())
            print(f"srdiff {name}: {path.stat().st_size} bytes, max |ref - ours| {diff:.3g}, rrdb_out clamped {clamped:.1%}")
# ================================================================================================ end srdiff


# ==================================================================================== guided-diffusion, difface, disc-diff
# The ADM U-Net family: openai/guided-diffusion UNetModel (with DPS's and AT-DDPM's published configurations),
# zsyOAOA/DifFace UNetModel and Yebulabula/DisC-Diff SuperResModel.  The references' top-level packages are named
# ``guided_diffusion`` (guided-diffusion, DPS, AT-DDPM, DisC-Diff) or ``models`` (DifFace), so each is imported
# inside ``_adm_imported``, which forgets it afterwards.  Run e.g.
#   --reference-dir guided-diffusion=<openai/guided-diffusion> --reference-dir guided-diffusion-dps=<DPS2022/diffusion-posterior-sampling>
#   --reference-dir guided-diffusion-atddpm=<Nithin-GK/AT-DDPM> --reference-dir difface=<zsyOAOA/DifFace>
#   --reference-dir disc-diff=<Yebulabula/DisC-Diff>
# Random fixture weights replace the reference's initialisation everywhere (it zeroes the residual output convs,
# which would leave those paths untested).  Fixtures stay < 1 MB: the 2-D ones have a single level (GroupNorm's
# 32 groups make 32 channels the minimum width); the multi-level ones (resampling blocks, per-level plans) are 1-D
# (``dims=1``, which the references support with the same code paths).


@contextlib.contextmanager
def _adm_imported(reference_dir: Path, package: str, stub_missing: tuple = ()):
    """``import_module(name)`` for ``package.name`` from ``reference_dir``; the package is forgotten afterwards.

    ``stub_missing``: modules the reference imports at top level but never uses to build or run the network
    (DisC-Diff's script_util pulls matplotlib for figures and, via gaussian_diffusion, shap); those that are not
    installed get empty stand-ins for the duration.
    """
    import importlib
    import types

    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] == package}
    for key in saved:
        del sys.modules[key]
    stubs = []
    for name in stub_missing:
        top = name.split(".")[0]
        if top in stubs or importlib.util.find_spec(top) is None:
            sys.modules[name] = types.ModuleType(name)
            if "." in name:
                parent, _, child = name.rpartition(".")
                setattr(sys.modules[parent], child, sys.modules[name])
            stubs.append(name)
    sys.path.insert(0, str(reference_dir))
    try:
        yield lambda name: importlib.import_module(f"{package}.{name}")
    finally:
        sys.path.remove(str(reference_dir))
        for key in [k for k in sys.modules if k.split(".")[0] == package] + stubs:
            del sys.modules[key]
        sys.modules.update(saved)


def _adm_commit(reference_dir: Path) -> str:
    return subprocess.run(["git", "-C", str(reference_dir), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()


def _adm_randomise(model: torch.nn.Module, seed: int) -> None:
    """Every parameter drawn afresh: weights ~ N(0, 1/fan_in), biases ~ N(0, 0.1^2), norm scales ~ 1 + N(0, 0.1^2)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            for name, param in module.named_parameters(recurse=False):
                noise = torch.randn(param.shape, generator=generator)
                if isinstance(module, torch.nn.GroupNorm):
                    param.copy_((1.0 if name == "weight" else 0.0) + 0.1 * noise)
                elif name == "weight" and param.ndim >= 2 and not isinstance(module, torch.nn.Embedding):
                    param.copy_(noise / param[0].numel() ** 0.5)
                else:
                    param.copy_((1.0 if isinstance(module, torch.nn.Embedding) else 0.1) * noise)


def _adm_published_format(state_dict: dict, workdir: Path) -> dict:
    """Round-trip through the published checkpoint layout: a plain state dict saved with torch.save."""
    path = workdir / "reference.pt"
    torch.save(state_dict, path)
    return torch.load(path, map_location="cpu", weights_only=True)


def _adm_keys(state_dict: dict) -> list:
    return [[k, list(v.shape)] for k, v in state_dict.items()]


def _adm_check_keys(name: str, ref_sd: dict, ours: torch.nn.Module) -> None:
    ours_keys, ref_keys = _adm_keys(ours.state_dict()), _adm_keys(ref_sd)
    if ours_keys != ref_keys:
        ours_set, ref_set = set(map(str, ours_keys)), set(map(str, ref_keys))
        raise SystemExit(f"{name}: state-dict keys/shapes differ from the reference:\n"
                         f"only ours: {sorted(ours_set - ref_set)}\nonly reference: {sorted(ref_set - ours_set)}"
                         + ("\n(same entries, other order)" if ours_set == ref_set else ""))


#: DisC-Diff's forward returns seven tensors, in this order.
DISC_DIFF_OUTPUTS = ("com_h1", "com_h2", "com_h3", "dist_h1", "dist_h2", "dist_h3", "out")


def _adm_run(model, inputs: dict) -> dict:
    """The model's output(s) as a dict name -> tensor (DisC-Diff's tuple of seven is named by the reference's order)."""
    inputs = dict(inputs)
    x, timesteps = inputs.pop("x"), inputs.pop("timesteps")
    with torch.no_grad():
        out = model(x, timesteps, **inputs)
    if isinstance(out, tuple):
        return {name: o for name, o in zip(DISC_DIFF_OUTPUTS, out)}
    return {"out": out}


def _adm_max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys(), (sorted(a), sorted(b))
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def _adm_inputs(shape: tuple, seed: int, num_classes=None, extra: tuple = ()) -> dict:
    """x ~ N(0, 1) of ``shape``, timesteps [3, 770] (batch 2), labels when class-conditional, extra images by name."""
    generator = torch.Generator().manual_seed(seed)
    inputs = {"x": torch.randn(shape, generator=generator), "timesteps": torch.tensor([3, 770])[: shape[0]]}
    if num_classes is not None:
        inputs["y"] = torch.randint(0, num_classes, (shape[0],), generator=generator)
    for name in extra:
        inputs[name] = torch.randn(shape, generator=generator)
    return inputs


def _adm_manifest(repo: Path, arch: str, configuration: str, reference: dict, config: dict, ref_sd: dict,
                  forward_check: dict, command: str, **extra) -> None:
    manifest = {
        "arch": arch,
        "configuration": configuration,
        "reference": reference,
        "config": config,
        **extra,
        "state_dict": [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in ref_sd.items()],
        "forward_check": forward_check,
        "command": command,
    }
    path = repo / "tests" / "published" / "manifests" / f"{arch}-{configuration}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{arch} {configuration}: {len(ref_sd)} keys, "
          f"{sum(v.numel() for v in ref_sd.values())} values, forward max |ref - ours| {forward_check['max_abs_diff']:.3g}")


def _adm_full_check(arch: str, configuration: str, ref, config: dict, inputs: dict, repo: Path, reference: dict,
                    command: str, **extra) -> None:
    """Keys, shapes and one forward of a full published configuration: reference ``ref`` vs ``build(arch, config)``."""
    import tempfile

    from restore_core.published import build

    ref = ref.eval()
    fp16 = getattr(ref, "dtype", None) == torch.float16
    if fp16:  # use_fp16: the reference would cast the input to float16 for a torso that is still float32
        ref.dtype = torch.float32
    with tempfile.TemporaryDirectory() as tmp:
        ref_sd = _adm_published_format(ref.state_dict(), Path(tmp))
    ours = build(arch, config).eval()
    _adm_check_keys(f"{arch} {configuration}", ref_sd, ours)
    # The reference's initialisation zeroes the residual output convs (and the output conv): compare on random
    # weights so that every path counts.
    _adm_randomise(ref, 0)
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref_out = _adm_run(ref, inputs)
    diff = _adm_max_diff(ref_out, _adm_run(ours, inputs))
    check = {"output_abs_max": max(float(o.abs().max()) for o in ref_out.values()), "input_shape": list(inputs["x"].shape), "timesteps": inputs["timesteps"].tolist(), "max_abs_diff": diff,
             "weights": "random (scripts/make_published_fixtures.py _adm_randomise, seed 0)"}
    if fp16:
        check["precision"] = "float32 (use_fp16 configuration: the reference's activation dtype set to float32)"
    _adm_manifest(repo, arch, configuration, reference, config, ref_sd, check, command, **extra)
    del ours


def _adm_fixture(arch: str, name: str, ref, config: dict, inputs: dict, repo: Path, reference: dict,
                 command: str, seed: int) -> None:
    """tests/published/fixtures/<arch>-<name>.safetensors from a small reference model with random weights."""
    import tempfile

    from safetensors.torch import save_file

    from restore_core.published import build

    ref = ref.eval()
    _adm_randomise(ref, seed)
    with tempfile.TemporaryDirectory() as tmp:
        ref_sd = _adm_published_format(ref.state_dict(), Path(tmp))
    outputs = _adm_run(ref, inputs)
    ours = build(arch, config).eval()
    _adm_check_keys(f"{arch} {name}", ref_sd, ours)
    ours.load_state_dict(ref_sd, strict=True)
    diff = _adm_max_diff(outputs, _adm_run(ours, inputs))
    tensors = {f"state_dict.{k}": v.contiguous().clone() for k, v in ref_sd.items()}
    tensors.update({f"input.{k}": v.contiguous() for k, v in inputs.items()})
    tensors.update({f"output.{k}": v.contiguous() for k, v in outputs.items()})
    path = repo / "tests" / "published" / "fixtures" / f"{arch}-{name}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={
        "arch": arch, "reference_repository": reference["repository"], "reference_commit": reference["commit"],
        "config": json.dumps(config), "command": command, "max_abs_diff_at_creation": repr(diff),
        "torch": torch.__version__,
    })
    scale = max(float(o.abs().max()) for o in outputs.values())
    print(f"{arch} {name}: {path.stat().st_size} bytes, max |ref - ours| {diff:.3g} (outputs up to {scale:.3g})")


# --------------------------------------------------------------------------------------------- guided-diffusion
GUIDED_DIFFUSION_REPOSITORY = "https://github.com/openai/guided-diffusion"
#: 256x256_diffusion_uncond.pt: the MODEL_FLAGS of the README's "256x256 model (unconditional)" sampling command.
GUIDED_DIFFUSION_UNCOND_256_FLAGS = {
    "attention_resolutions": "32,16,8", "class_cond": False, "image_size": 256, "learn_sigma": True,
    "num_channels": 256, "num_head_channels": 64, "num_res_blocks": 2, "resblock_updown": True, "use_fp16": True,
    "use_scale_shift_norm": True,
}
#: Small random-weight variants, as UNetModel keyword arguments, with their input shapes.
GUIDED_DIFFUSION_SMALL = {
    # 2-D, one level: learned-sigma output, scale-shift norm, legacy attention with head width 16.
    "small": ({"image_size": 8, "in_channels": 3, "model_channels": 32, "out_channels": 6, "num_res_blocks": 1,
               "attention_resolutions": (1,), "channel_mult": (1,), "num_head_channels": 16,
               "use_scale_shift_norm": True, "resblock_updown": True}, (2, 3, 8, 8)),
    # 1-D, two levels: resampling residual blocks, class labels, new attention order, decoder head count.
    "small-1d": ({"image_size": 16, "in_channels": 6, "model_channels": 32, "out_channels": 6, "num_res_blocks": 1,
                  "attention_resolutions": (2,), "channel_mult": (1, 1), "dims": 1, "num_classes": 3,
                  "num_heads": 2, "num_heads_upsample": 4, "use_new_attention_order": True,
                  "use_scale_shift_norm": True, "resblock_updown": True, "dropout": 0.1}, (2, 6, 16)),
    # 1-D, two levels: convolutional Downsample/Upsample, additive embedding (the width changes of the published
    # models are covered by the full-configuration forward checks).
    "small-1d-resample": ({"image_size": 8, "in_channels": 3, "model_channels": 32, "out_channels": 3,
                           "num_res_blocks": 1, "attention_resolutions": (2,), "channel_mult": (1, 1), "dims": 1,
                           "num_heads": 4, "conv_resample": True}, (2, 3, 8)),
}


def make_guided_diffusion(reference_dir: Path, repo: Path, command: str) -> None:
    """manifests/guided-diffusion-imagenet256-uncond.json and fixtures/guided-diffusion-small*.safetensors."""
    import inspect

    reference = {"repository": GUIDED_DIFFUSION_REPOSITORY, "commit": _adm_commit(reference_dir),
                 "files": ["guided_diffusion/unet.py", "guided_diffusion/nn.py", "guided_diffusion/script_util.py"]}
    with _adm_imported(reference_dir, "guided_diffusion") as module:
        unet, script_util = module("unet"), module("script_util")
        defaults = script_util.model_and_diffusion_defaults()
        create_args = inspect.signature(script_util.create_model).parameters
        config = {k: v for k, v in {**defaults, **GUIDED_DIFFUSION_UNCOND_256_FLAGS}.items() if k in create_args}
        torch.manual_seed(0)
        ref = script_util.create_model(**config)
        _adm_full_check("guided-diffusion", "imagenet256-uncond", ref, config, _adm_inputs((1, 3, 64, 64), 1), repo,
                        {**reference, "config_source": "README.md 256x256 unconditional MODEL_FLAGS over "
                                                       "script_util.model_and_diffusion_defaults()"}, command,
                        checkpoint="256x256_diffusion_uncond.pt")
        del ref
        for name, (kwargs, shape) in GUIDED_DIFFUSION_SMALL.items():
            torch.manual_seed(0)
            ref = unet.UNetModel(**kwargs)
            inputs = _adm_inputs(shape, 2, kwargs.get("num_classes"))
            _adm_fixture("guided-diffusion", name, ref, _adm_jsonable(kwargs), inputs, repo, reference, command, seed=3)


def _adm_jsonable(kwargs: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}


def make_guided_diffusion_dps(reference_dir: Path, repo: Path, command: str) -> None:
    """manifests/guided-diffusion-dps-ffhq256.json: DPS's configs/model_config.yaml through its create_model."""
    import yaml

    reference = {"repository": "https://github.com/DPS2022/diffusion-posterior-sampling",
                 "commit": _adm_commit(reference_dir), "files": ["guided_diffusion/unet.py", "configs/model_config.yaml"],
                 "config_source": "configs/model_config.yaml"}
    config = yaml.safe_load((reference_dir / "configs" / "model_config.yaml").read_text())
    with _adm_imported(reference_dir, "guided_diffusion") as module:
        torch.manual_seed(0)
        ref = module("unet").create_model(**{**config, "model_path": ""})  # no checkpoint to load
        _adm_full_check("guided-diffusion", "dps-ffhq256", ref, config, _adm_inputs((1, 3, 64, 64), 1), repo,
                        reference, command, checkpoint="ffhq_10m.pt")


def make_guided_diffusion_atddpm(reference_dir: Path, repo: Path, command: str) -> None:
    """manifests/guided-diffusion-atddpm256.json: AT-DDPM's sr_model_and_diffusion_defaults() through sr_create_model."""
    import inspect

    reference = {"repository": "https://github.com/Nithin-GK/AT-DDPM", "commit": _adm_commit(reference_dir),
                 "files": ["guided_diffusion/unet.py", "guided_diffusion/script_util.py", "scripts/AT_test.py"],
                 "config_source": "guided_diffusion/script_util.py sr_model_and_diffusion_defaults() "
                                  "(what scripts/AT_train.py and scripts/AT_test.py use)"}
    with _adm_imported(reference_dir, "guided_diffusion") as module:
        script_util = module("script_util")
        config = script_util.sr_model_and_diffusion_defaults()
        model_args = inspect.signature(script_util.sr_create_model).parameters
        torch.manual_seed(0)
        ref = script_util.sr_create_model(**{k: v for k, v in config.items() if k in model_args})
        _adm_full_check("guided-diffusion", "atddpm256", ref, config, _adm_inputs((1, 6, 64, 64), 1), repo,
                        reference, command, checkpoint="weights_synthetic/model.pt",
                        note="AT-DDPM's ATDDPM class is UNetModel without num_classes; its forward(x, t, at=None) "
                             "ignores `at` (the turbulent image is concatenated into x's 6 channels).")


#: improved-diffusion's released models: README MODEL_FLAGS over its script_util.model_and_diffusion_defaults().
GUIDED_DIFFUSION_IMPROVED = {
    "improved-cifar10": ({"image_size": 32, "num_channels": 128, "num_res_blocks": 3, "learn_sigma": True,
                          "dropout": 0.3}, "cifar10_uncond_50M_500K.pt"),
    "improved-imagenet64-uncond": ({"image_size": 64, "num_channels": 128, "num_res_blocks": 3, "learn_sigma": True},
                                   "imagenet64_uncond_100M_1500K.pt"),
}


def make_guided_diffusion_improved(reference_dir: Path, repo: Path, command: str) -> None:
    """manifests/guided-diffusion-improved-*.json: openai/improved-diffusion's UNetModel, the layout ADM grew from."""
    import inspect

    reference = {"repository": "https://github.com/openai/improved-diffusion", "commit": _adm_commit(reference_dir),
                 "files": ["improved_diffusion/unet.py", "improved_diffusion/nn.py", "improved_diffusion/script_util.py"],
                 "config_source": "README.md MODEL_FLAGS over script_util.model_and_diffusion_defaults()"}
    with _adm_imported(reference_dir, "improved_diffusion") as module:
        script_util = module("script_util")
        model_args = inspect.signature(script_util.create_model).parameters
        for name, (flags, checkpoint) in GUIDED_DIFFUSION_IMPROVED.items():
            config = {**script_util.model_and_diffusion_defaults(), **flags}
            torch.manual_seed(0)
            ref = script_util.create_model(**{k: v for k, v in config.items() if k in model_args})
            size = config["image_size"]
            _adm_full_check("guided-diffusion", name, ref, config, _adm_inputs((1, 3, size, size), 1), repo, reference,
                            command, checkpoint=checkpoint)
            del ref


# --------------------------------------------------------------------------------------------------------- difface
DIFFACE_PRIOR_CONFIG = "configs/sample/iddpm_ffhq512_swinir.yaml"
DIFFACE_SMALL = {
    # 2-D, one level: scale-shift norm, 16-channel heads, 6 outputs, attention at feature size 8.
    "small": ({"image_size": 8, "in_channels": 3, "model_channels": 32, "out_channels": 6, "num_res_blocks": [1],
               "attention_resolutions": [8], "channel_mult": [1], "num_head_channels": 16,
               "use_scale_shift_norm": True}, (2, 3, 8, 8)),
    # 1-D, three levels with per-level block counts; image_size 10 makes the encoder's sizes (10, 5, 2) and the
    # decoder's (8, 4, 2) differ, so attention at [5, 8] sits at encoder level 1 but decoder level 0;
    # num_head_channels=-1 leaves the decoder's attention at one head; conv resampling; 2 classes.
    "small-1d": ({"image_size": 10, "in_channels": 3, "model_channels": 32, "out_channels": 6,
                  "num_res_blocks": [1, 2, 1], "attention_resolutions": [5, 8], "channel_mult": [1, 1, 1], "dims": 1,
                  "num_classes": 2, "num_heads": 2}, (2, 3, 16)),
}


def make_difface(reference_dir: Path, repo: Path, command: str) -> None:
    """manifests/difface-ffhq512.json and fixtures/difface-small*.safetensors."""
    import yaml

    reference = {"repository": "https://github.com/zsyOAOA/DifFace", "commit": _adm_commit(reference_dir),
                 "files": ["models/unet.py", "models/basic_ops.py", DIFFACE_PRIOR_CONFIG,
                           "configs/training/diffusion_ffhq512.yaml"], "config_source": DIFFACE_PRIOR_CONFIG}
    sample = yaml.safe_load((reference_dir / DIFFACE_PRIOR_CONFIG).read_text())["model"]
    training = yaml.safe_load((reference_dir / "configs/training/diffusion_ffhq512.yaml").read_text())["model"]
    if sample["params"] != training["params"] or sample["target"] != "models.unet.UNetModel":
        raise SystemExit("difface: the sampling and training configs of the FFHQ-512 prior differ")
    with _adm_imported(reference_dir, "models") as module:
        unet = module("unet")
        torch.manual_seed(0)
        ref = unet.UNetModel(**sample["params"])
        _adm_full_check("difface", "ffhq512", ref, sample["params"], _adm_inputs((1, 3, 64, 64), 1), repo, reference,
                        command, checkpoint=Path(sample["ckpt_path"]).name)
        del ref
        for name, (kwargs, shape) in DIFFACE_SMALL.items():
            torch.manual_seed(0)
            ref = unet.UNetModel(**kwargs)
            inputs = _adm_inputs(shape, 2, kwargs.get("num_classes"))
            _adm_fixture("difface", name, ref, kwargs, inputs, repo, reference, command, seed=3)
# ------------------------------------------------------------------------------------------------------- disc-diff
DISC_DIFF_CONFIG = "config/config_train.yaml"
#: Top-level imports of the reference's script_util / gaussian_diffusion that play no part in the network.
DISC_DIFF_UNUSED_IMPORTS = ("matplotlib", "matplotlib.pyplot", "shap")
DISC_DIFF_SMALL = {
    # 2-D, one level (three input streams triple the encoder: 32 channels, one level and the additive embedding
    # stay < 1 MB; scale-shift norm is pinned by the guided-diffusion fixtures and the full-configuration check):
    # 16-channel heads, 1 input channel with learned sigma; bottleneck width 32 -> gates over 16 channels.
    "small": ({"image_size": 8, "in_channels": 1, "model_channels": 32, "out_channels": 2, "num_res_blocks": 1,
               "attention_resolutions": [], "channel_mult": [1], "num_head_channels": 16}, (2, 1, 8, 8)),
}


def _disc_diff_with_derived_width(unet_module):
    """The reference's unet module, re-executed with its one constant ``conv_ch = 288`` set to its meaning.

    The published network's bottleneck width is 288 = num_channels 96 x channel_mult[-1] 3, hard-coded in
    ``UNetModel.__init__``; at that width a fixture cannot stay < 1 MB.  The small fixtures therefore come from the
    reference module with that single assignment replaced by ``int(model_channels * channel_mult[-1])`` (the
    derivation restore_core uses); the published configuration itself is checked against the unmodified reference.
    """
    import inspect
    import types

    source, fixed = inspect.getsource(unet_module), "conv_ch = 288"
    if source.count(fixed) != 1:
        raise SystemExit(f"disc-diff: expected one '{fixed}' in the reference's unet.py")
    module = types.ModuleType(f"{unet_module.__name__}_derived_width")
    module.__package__, module.__file__ = unet_module.__package__, unet_module.__file__
    code = compile(source.replace(fixed, "conv_ch = int(model_channels * channel_mult[-1])"), unet_module.__file__, "exec")
    exec(code, module.__dict__)  # noqa: S102 - the reference's own module source, one constant replaced
    return module


def make_disc_diff(reference_dir: Path, repo: Path, command: str) -> None:
    """manifests/disc-diff-ixi.json and fixtures/disc-diff-small.safetensors."""
    import inspect

    import yaml

    reference = {"repository": "https://github.com/Yebulabula/DisC-Diff", "commit": _adm_commit(reference_dir),
                 "files": ["guided_diffusion/unet.py", "guided_diffusion/nn.py", "guided_diffusion/script_util.py",
                           DISC_DIFF_CONFIG, "config/config_test.yaml"], "config_source": DISC_DIFF_CONFIG}
    config = yaml.safe_load((reference_dir / DISC_DIFF_CONFIG).read_text())
    test_config = yaml.safe_load((reference_dir / "config/config_test.yaml").read_text())
    with _adm_imported(reference_dir, "guided_diffusion", stub_missing=DISC_DIFF_UNUSED_IMPORTS) as module:
        unet, script_util = module("unet"), module("script_util")
        model_args = list(inspect.signature(script_util.sr_create_model).parameters)
        if any(config[k] != test_config[k] for k in model_args):
            raise SystemExit("disc-diff: config_train.yaml and config_test.yaml build different networks")
        torch.manual_seed(0)
        with contextlib.redirect_stdout(sys.stderr):  # SuperResModel prints image_size
            ref = script_util.sr_create_model(**{k: config[k] for k in model_args})
        extra = tuple(k for k in ("low_res", "other"))
        _adm_full_check("disc-diff", "ixi", ref, config, _adm_inputs((1, 1, 32, 32), 1, extra=extra), repo,
                        reference, command, checkpoint="DisC_Diff_X4_IXI.pt (and the x2 model: same network)")
        del ref
        small_unet = _disc_diff_with_derived_width(unet)
        for name, (kwargs, shape) in DISC_DIFF_SMALL.items():
            torch.manual_seed(0)
            with contextlib.redirect_stdout(sys.stderr):
                ref = small_unet.SuperResModel(**kwargs)
            inputs = _adm_inputs(shape, 2, extra=extra)
            _adm_fixture("disc-diff", name, ref, kwargs, inputs, repo, reference, command, seed=3)
# ====================================================================== end guided-diffusion, difface, disc-diff


# ================================================================================================== resshift
# zsyOAOA/ResShift (Yue et al. 2023): the VQ-f4 autoencoder (ldm/models/autoencoder.py VQModelTorch) and the
# Swin U-Net denoiser (models/unet.py UNetModelSwin).  Both come from one checkout, so
#   --reference-dir resshift-vq-f4=PATH --reference-dir resshift-swin-unet=PATH
# The reference imports need einops and omegaconf; models/swin_transformer.py also needs timm (which needs a
# working torchvision).  Constructor arguments are read from the reference's own YAML configs (OmegaConf
# resolves their ${...} interpolations).  The published .pth files are plain state dicts saved with torch.save
# (sampler.py: torch.load, optional 'state_dict' level); fixtures round-trip through that format.

RESSHIFT_REPOSITORY = "https://github.com/zsyOAOA/ResShift"
#: Published autoencoder configurations: manifest name -> (config file, the checkpoint it is used with).
RESSHIFT_VQ_PUBLISHED = {
    "autoencoder_vq_f4": ("configs/realsr_swinunet_realesrgan256.yaml", "autoencoder_vq_f4.pth"),
    "ffhq512_vq_f8_dim8_face": ("configs/faceir_gfpgan512_lpips.yaml", "ffhq512_vq_f8_dim8_face.pth"),
}
#: Configs whose autoencoder params must resolve to the same arguments as the named manifest.
RESSHIFT_VQ_SAME_AS = {
    "autoencoder_vq_f4": ("configs/realsr_swinunet_realesrgan256_journal.yaml", "configs/bicx4_swinunet_lpips.yaml",
                          "configs/realsr_realesrgan256_x2.yaml", "configs/inpaint_lama256_imagenet.yaml",
                          "configs/inpaint_lama256_face.yaml"),
}
#: Small random-weight variant: name -> (ddconfig, n_embed, embed_dim, input shape): channel changes both ways
#: (nin_shortcut), a per-level block list, attention inside a level and in the middle, z_channels != embed_dim,
#: a non-square input.  (GroupNorm's 32 groups keep widths >= 32.)
RESSHIFT_VQ_SMALL = {
    "small": (dict(double_z=False, z_channels=4, resolution=16, in_channels=3, out_ch=3, ch=32, ch_mult=[2, 1],
                   num_res_blocks=[1, 1], attn_resolutions=[8], dropout=0.0, padding_mode="zeros"), 64, 3,
              (2, 3, 16, 24)),
}


@contextlib.contextmanager
def _resshift_imported(reference_dir: Path):
    """The reference's top-level packages (ldm, models, ...) importable from ``reference_dir``, then forgotten."""
    names = ("ldm", "models", "utils", "basicsr", "datapipe")
    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] in names}
    for key in saved:
        del sys.modules[key]
    sys.path.insert(0, str(reference_dir))
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the reference prints while importing / building
            from ldm.models.autoencoder import VQModelTorch  # noqa: the reference's

        yield VQModelTorch
    finally:
        sys.path.remove(str(reference_dir))
        for key in [k for k in sys.modules if k.split(".")[0] in names]:
            del sys.modules[key]
        sys.modules.update(saved)


def _resshift_config(reference_dir: Path, config_file: str, section: str) -> dict:
    """``<section>.params`` of a reference YAML config, interpolations resolved, as plain Python."""
    from omegaconf import OmegaConf

    conf = OmegaConf.load(reference_dir / config_file)
    return OmegaConf.to_container(conf[section]["params"], resolve=True)


def _resshift_commit(reference_dir: Path) -> str:
    return subprocess.run(["git", "-C", str(reference_dir), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()


def _resshift_published_format(state_dict: dict, workdir: Path, name: str) -> dict:
    """Round-trip through the published checkpoint layout: a state dict saved with torch.save."""
    path = workdir / f"{name}.pth"
    torch.save(state_dict, path)
    return torch.load(path, map_location="cpu", weights_only=True)


def _resshift_same_keys(arch: str, name: str, ours: torch.nn.Module, ref_sd: dict) -> list:
    ours_keys = [(k, list(v.shape)) for k, v in ours.state_dict().items()]
    ref_keys = [(k, list(v.shape)) for k, v in ref_sd.items()]
    if ours_keys != ref_keys:
        raise SystemExit(f"{arch} {name}: state-dict keys/shapes differ from the reference:\n"
                         f"only ours: {sorted(set(map(str, ours_keys)) - set(map(str, ref_keys)))}\n"
                         f"only reference: {sorted(set(map(str, ref_keys)) - set(map(str, ours_keys)))}\n"
                         f"(or the order differs)")
    return ref_keys


def _resshift_max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys(), (sorted(a), sorted(b))
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def _resshift_vq_outputs(model, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """encode, the quantiser's (z_q, loss, indices), decode with/without quantising, forward (reference's or ours)."""
    with torch.no_grad():
        h = model.encode(x)
        z_q, loss, (_, _, indices) = model.quantize(h)
        return {"encode": h, "quantize.z_q": z_q, "quantize.loss": loss.reshape(1), "quantize.indices": indices,
                "decode": model.decode(h), "decode_not_quantized": model.decode(h, force_not_quantize=True),
                "forward": model(x), "forward_not_quantized": model(x, force_not_quantize=True)}


def _resshift_write_manifest(repo: Path, arch: str, name: str, reference: dict, config: dict, ref_sd: dict,
                             ref_keys: list, forward_check: dict, command: str, **extra) -> None:
    manifest = {
        "arch": arch,
        "configuration": name,
        "reference": reference,
        "config": config,
        **extra,
        "state_dict": [[k, shape, str(ref_sd[k].dtype).replace("torch.", "")] for k, shape in ref_keys],
        "forward_check": forward_check,
        "command": command,
    }
    path = repo / "tests" / "published" / "manifests" / f"{arch}-{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=1) + "\n")


def _resshift_float16_exact(model: torch.nn.Module) -> None:
    """Round every floating parameter/buffer to a float16 value (kept float32), so the fixture can store them
    as float16 losslessly (half the bytes; every fixture stays < 1 MB)."""
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())


def _resshift_write_fixture(repo: Path, arch: str, name: str, ref_sd: dict, inputs: dict, outputs: dict,
                            metadata: dict) -> Path:
    from safetensors.torch import save_file

    for key, value in ref_sd.items():
        if value.is_floating_point() and not torch.equal(value.half().float(), value):
            raise SystemExit(f"{arch} {name}: {key} is not float16-exact")
    tensors = {f"state_dict.{k}": (v.half() if v.is_floating_point() else v).contiguous().clone()
               for k, v in ref_sd.items()}
    tensors.update({f"input.{k}": v.contiguous() for k, v in inputs.items()})
    tensors.update({f"output.{k}": v.contiguous() for k, v in outputs.items()})
    path = repo / "tests" / "published" / "fixtures" / f"{arch}-{name}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={k: str(v) for k, v in metadata.items()})
    return path


def make_resshift_vq_f4(reference_dir: Path, repo: Path, command: str) -> None:
    """manifests/resshift-vq-f4-{autoencoder_vq_f4,ffhq512_vq_f8_dim8_face}.json, fixtures/resshift-vq-f4-small*.safetensors."""
    import tempfile

    from restore_core.published import build

    arch, commit = "resshift-vq-f4", _resshift_commit(reference_dir)
    files = ["ldm/models/autoencoder.py", "ldm/modules/diffusionmodules/model.py", "ldm/modules/vqvae/quantize.py"]
    with _resshift_imported(reference_dir) as reference_cls, tempfile.TemporaryDirectory() as tmp:
        # --- full published configurations: keys, shapes, one forward on a small input
        for name, (config_file, checkpoint) in RESSHIFT_VQ_PUBLISHED.items():
            config = _resshift_config(reference_dir, config_file, "autoencoder")
            for other in RESSHIFT_VQ_SAME_AS.get(name, ()):
                if _resshift_config(reference_dir, other, "autoencoder") != config:
                    raise SystemExit(f"{arch}: {other} no longer has the autoencoder arguments of {config_file}")
            torch.manual_seed(0)
            with contextlib.redirect_stdout(sys.stderr):
                ref = reference_cls(**config).eval()
            ours = build(arch, config).eval()
            ref_sd = _resshift_published_format(ref.state_dict(), Path(tmp), name)
            ref_keys = _resshift_same_keys(arch, name, ours, ref_sd)
            ours.load_state_dict(ref_sd, strict=True)
            x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
            diff = _resshift_max_diff(_resshift_vq_outputs(ref, x), _resshift_vq_outputs(ours, x))
            print(f"{arch} {name}: {len(ref_keys)} keys, max |ref - ours| {diff:.3g}")
            reference = {"repository": RESSHIFT_REPOSITORY, "commit": commit, "files": files,
                         "config_file": config_file, "config_key": "autoencoder.params",
                         "same_arguments_in": list(RESSHIFT_VQ_SAME_AS.get(name, ())), "checkpoint": checkpoint}
            _resshift_write_manifest(repo, arch, name, reference, config, ref_sd, ref_keys,
                                     {"input_shape": list(x.shape), "max_abs_diff": diff}, command)

        # --- small random-weight fixtures (codebook spread over the latents' range so quantising matters)
        for name, (ddconfig, n_embed, embed_dim, shape) in RESSHIFT_VQ_SMALL.items():
            config = {"ddconfig": ddconfig, "n_embed": n_embed, "embed_dim": embed_dim}
            torch.manual_seed(21)
            with contextlib.redirect_stdout(sys.stderr):
                ref = reference_cls(**config).eval()
            x = torch.rand(*shape, generator=torch.Generator().manual_seed(22)) * 2 - 1
            with torch.no_grad():
                h = ref.encode(x)
                ref.quantize.embedding.weight.copy_(torch.randn(n_embed, embed_dim) * h.std() + h.mean())
            _resshift_float16_exact(ref)
            ref_sd = _resshift_published_format(ref.state_dict(), Path(tmp), name)
            outputs = _resshift_vq_outputs(ref, x)
            ours = build(arch, config).eval()
            ours.load_state_dict(ref_sd, strict=True)
            diff = _resshift_max_diff(outputs, _resshift_vq_outputs(ours, x))
            used = int(outputs["quantize.indices"].unique().numel())
            path = _resshift_write_fixture(repo, arch, name, ref_sd, {"x": x}, outputs, {
                "arch": arch, "reference_repository": RESSHIFT_REPOSITORY, "reference_commit": commit,
                "config": json.dumps(config), "command": command, "max_abs_diff_at_creation": repr(diff),
                "torch": torch.__version__,
                "note": "state_dict.* stored as float16 holding float16-exact float32 weights; load as float32"})
            print(f"{arch} {name}: {path.stat().st_size} bytes, {used} codewords used, max |ref - ours| {diff:.3g}")


#: Published denoiser configurations: manifest name -> (config file, configs with the same arguments, checkpoints).
RESSHIFT_UNET_PUBLISHED = {
    "realsr-x4": ("configs/realsr_swinunet_realesrgan256.yaml",
                  ("configs/realsr_swinunet_realesrgan256_journal.yaml", "configs/bicx4_swinunet_lpips.yaml"),
                  ["resshift_realsrx4_s15_v1.pth", "resshift_realsrx4_s15_v2.pth", "resshift_realsrx4_s4_v3.pth",
                   "resshift_bicsrx4_s4.pth"]),
    "realsr-x2": ("configs/realsr_realesrgan256_x2.yaml", (), []),
    "faceir": ("configs/faceir_gfpgan512_lpips.yaml", (), ["resshift_faceir_s4.pth"]),
    "inpaint": ("configs/inpaint_lama256_imagenet.yaml", ("configs/inpaint_lama256_face.yaml",),
                ["resshift_inpainting_imagenet_s4.pth", "resshift_inpainting_face_s4.pth"]),
}
#: Small random-weight variants: name -> (constructor arguments, construction-size and other input sides).
#: "small" follows the published layout (conv resampling, scale-shift norm, per-level blocks, LQ feature
#: extractor, num_head_channels, shifted windows with several windows per map); "small-options" switches on
#: the other branches (resblock_updown, patch_norm, mask conditioning with lq_size == image_size, num_heads,
#: windows clamped to the map, so no shifted block and depth 1, additive embedding).  Both also run at a size
#: other than image_size (the reference then recomputes the shifted-window mask).
RESSHIFT_UNET_SMALL = {
    "small": (dict(image_size=16, in_channels=3, model_channels=32, out_channels=3, attention_resolutions=[8],
                   dropout=0, channel_mult=[1, 1], num_res_blocks=[1, 1], conv_resample=True, dims=2,
                   use_fp16=False, num_head_channels=16, use_scale_shift_norm=True, resblock_updown=False,
                   swin_depth=2, swin_embed_dim=32, window_size=4, mlp_ratio=2, cond_lq=True, lq_size=32),
              (16, 24)),
    "small-options": (dict(image_size=16, in_channels=2, model_channels=32, out_channels=4,
                           attention_resolutions=[8], channel_mult=[1, 1], num_res_blocks=1, num_heads=2,
                           use_scale_shift_norm=False, resblock_updown=True, swin_depth=1, swin_embed_dim=32,
                           window_size=8, mlp_ratio=1.5, patch_norm=True, cond_lq=True, cond_mask=True,
                           lq_size=16),
                      (16, 32)),
}


def _resshift_unet_inputs(config: dict, side: int, seed: int) -> dict[str, torch.Tensor]:
    """x (batch 2, ``side`` square), timesteps, lq at lq_size/image_size times ``side`` (and a mask)."""
    generator = torch.Generator().manual_seed(seed)
    lq_side = side * config["lq_size"] // config["image_size"]
    inputs = {"x": torch.randn(2, config["in_channels"], side, side, generator=generator),
              "timesteps": torch.tensor([0, 9]),
              "lq": torch.rand(2, 3, lq_side, lq_side, generator=generator) * 2 - 1}
    if config.get("cond_mask"):
        inputs["mask"] = (torch.rand(2, 1, lq_side, lq_side, generator=generator) > 0.5).float()
    return inputs


def _resshift_unet_forward(model, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        return model(inputs["x"], inputs["timesteps"], lq=inputs["lq"], **({"mask": inputs["mask"]} if "mask" in inputs else {}))


def make_resshift_swin_unet(reference_dir: Path, repo: Path, command: str) -> None:
    """manifests/resshift-swin-unet-{realsr-x4,realsr-x2,faceir,inpaint}.json, fixtures/resshift-swin-unet-small*.safetensors."""
    import tempfile

    from restore_core.published import build

    arch, commit = "resshift-swin-unet", _resshift_commit(reference_dir)
    files = ["models/unet.py", "models/swin_transformer.py", "models/basic_ops.py"]
    with _resshift_imported(reference_dir), tempfile.TemporaryDirectory() as tmp:
        from models.unet import UNetModelSwin  # noqa: the reference's (needs timm)

        # --- full published configurations: keys, shapes, one forward at the training size
        for name, (config_file, same_as, checkpoints) in RESSHIFT_UNET_PUBLISHED.items():
            config = _resshift_config(reference_dir, config_file, "model")
            for other in same_as:
                if _resshift_config(reference_dir, other, "model") != config:
                    raise SystemExit(f"{arch}: {other} no longer has the model arguments of {config_file}")
            torch.manual_seed(0)
            ref = UNetModelSwin(**config).eval()
            ours = build(arch, config).eval()
            fresh_buffers = {k: v.clone() for k, v in ours.state_dict().items() if k in dict(ours.named_buffers())}
            ref_sd = _resshift_published_format(ref.state_dict(), Path(tmp), name)
            ref_keys = _resshift_same_keys(arch, name, ours, ref_sd)
            buffers_equal = all(torch.equal(v, ref_sd[k]) for k, v in fresh_buffers.items())
            with torch.no_grad():  # the reference zero-initialises residual outputs: make every path count
                for key, value in ref_sd.items():
                    if value.is_floating_point() and key in dict(ref.named_parameters()):
                        value.copy_(torch.randn(value.shape, generator=torch.Generator().manual_seed(len(key))) * 0.05)
            ref.load_state_dict(ref_sd, strict=True)
            ours.load_state_dict(ref_sd, strict=True)
            inputs = _resshift_unet_inputs(config, config["image_size"], seed=1)
            inputs = {k: v[:1] for k, v in inputs.items()}
            diff = float((_resshift_unet_forward(ref, inputs) - _resshift_unet_forward(ours, inputs)).abs().max())
            params = sum(int(v.numel()) for k, v in ref_sd.items() if k in dict(ref.named_parameters()))
            print(f"{arch} {name}: {len(ref_keys)} keys, {params} parameters, buffers as built equal: {buffers_equal}, "
                  f"max |ref - ours| {diff:.3g}")
            if not buffers_equal:
                raise SystemExit(f"{arch} {name}: freshly built buffers differ from the reference's")
            reference = {"repository": RESSHIFT_REPOSITORY, "commit": commit, "files": files,
                         "config_file": config_file, "config_key": "model.params", "same_arguments_in": list(same_as),
                         "checkpoints": checkpoints}
            _resshift_write_manifest(repo, arch, name, reference, config, ref_sd, ref_keys,
                                     {"x_shape": list(inputs["x"].shape), "lq_shape": list(inputs["lq"].shape),
                                      "timesteps": inputs["timesteps"].tolist(), "max_abs_diff": diff,
                                      "buffers_as_built_equal": buffers_equal}, command, parameters=params)

        # --- small random-weight fixtures
        for name, (config, sides) in RESSHIFT_UNET_SMALL.items():
            torch.manual_seed(31)
            ref = UNetModelSwin(**config).eval()
            with torch.no_grad():
                for parameter in ref.parameters():
                    parameter.copy_(torch.randn_like(parameter) * 0.1)
            _resshift_float16_exact(ref)
            ref_sd = _resshift_published_format(ref.state_dict(), Path(tmp), name)
            ours = build(arch, config).eval()
            ours.load_state_dict(ref_sd, strict=True)
            inputs, outputs, diffs = {}, {}, []
            for index, side in enumerate(sides):
                case = _resshift_unet_inputs(config, side, seed=32 + index)
                expected = _resshift_unet_forward(ref, case)
                diffs.append(float((expected - _resshift_unet_forward(ours, case)).abs().max()))
                inputs.update({f"{side}.{k}": v for k, v in case.items()})
                outputs[f"{side}"] = expected
            path = _resshift_write_fixture(repo, arch, name, ref_sd, inputs, outputs, {
                "arch": arch, "reference_repository": RESSHIFT_REPOSITORY, "reference_commit": commit,
                "config": json.dumps(config), "sides": json.dumps(list(sides)), "command": command,
                "max_abs_diff_at_creation": repr(max(diffs)), "torch": torch.__version__,
                "note": "state_dict.* stored as float16 holding float16-exact float32 weights; load as float32"})
            print(f"{arch} {name}: {path.stat().st_size} bytes, outputs up to "
                  f"{max(float(v.abs().max()) for v in outputs.values()):.3g}, max |ref - ours| {diffs}")
# ============================================================================================== end resshift


# ==================================================================================================== main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-dir", action="append", default=[], metavar="ARCH=PATH", required=True,
                        help="a checkout of ARCH's reference repository (repeatable)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for item in args.reference_dir:
        arch, _, path = item.partition("=")
        maker = globals().get(f"make_{arch.replace('-', '_')}")
        if maker is None or not path:
            parser.error(f"--reference-dir {item}: expected ARCH=PATH with a known ARCH")
        command = f"python scripts/make_published_fixtures.py --reference-dir {arch}=<checkout of the reference>"
        maker(Path(path).resolve(), REPO, command)


if __name__ == "__main__":
    main()
