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
