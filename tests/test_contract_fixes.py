"""Review fixes of the core contract: eval randomness and scales, writer checks, config
layering and types, --quiet, SIGTERM, plugin choice, output/YAML order.

A throwaway plugin ``toyio`` reads and writes ``.toy`` files (NumPy arrays) so
these tests do not depend on any first-party plugin.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from restore_core.cli import main
from restore_core.config import compose_config
from restore_core.errors import ConfigError
from restore_core.plugins import discover
from restore_core.registry import Registry
from tests.conftest import listing

TOY = """
import time
import numpy as np
from restore_core.hookspecs import hookimpl
from restore_core.sample import Sample

CALLS = []
SLOW_WRITE = {slow}

def read(path, cfg):
    with open(path, "rb") as handle:
        data = np.load(handle)
    return Sample(data=data.astype(np.float32), spatial_dims=data.ndim - 1, source_dtype=data.dtype)

def write(sample, path, cfg):
    with open(path, "wb") as handle:
        handle.write(b"partial")
        handle.flush()
        if SLOW_WRITE:
            time.sleep(120)
        np.save(handle, sample.data)

def check(sample, path):
    if np.dtype(sample.source_dtype).kind == "f":
        raise ValueError("toy files hold integers only")

class Nearest:
    def restore(self, sample, cfg, context):
        CALLS.append(("restore", bool(context.quiet)))
        s = int(str(cfg.scale).split(",")[0])
        return sample.resampled(sample.data.repeat(s, axis=1).repeat(s, axis=2))

def noisy(scale):
    import torch
    import torch.nn.functional as F
    CALLS.append(("factory", scale))

    def degrade(hr, generator):
        draw = None if generator is None else float(torch.rand(1, generator=generator))
        CALLS.append(("degrade", None if generator is None else (generator.device.type, draw)))
        return F.avg_pool2d(hr, scale) + (draw or 0.0)

    return degrade

@hookimpl
def register_readers(register):
    register(name="toy", read=read, extensions=[".toy"])

@hookimpl
def register_writers(register):
    register(name="toy", write=write, extensions=[".toy"], check=check)

@hookimpl
def register_methods(register):
    register(name="nearest", factory=Nearest, default=True)

@hookimpl
def register_degradations(register):
    register(name="noisy", factory=noisy)

@hookimpl
def register_configs(register):
    register(method="defaults", config={{"eval": {{"degradation": "noisy", "lpips": "skip"}}, "scale": 2}})
"""


def toy_file(path: Path, data: np.ndarray) -> Path:
    with open(path, "wb") as handle:
        np.save(handle, data)
    return path


@pytest.fixture
def toy(plugin_site, tmp_path):
    """Install ``toyio`` and return its module's CALLS list (shared with in-process runs)."""
    plugin_site("toyio", TOY.format(slow=False))
    import importlib

    module = importlib.import_module(discover()["toyio"].value)
    module.CALLS.clear()
    return module.CALLS


def one_error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def grey(shape=(8, 8), dtype=np.uint8) -> np.ndarray:
    return (np.arange(np.prod(shape)).reshape(1, *shape) % 200).astype(dtype)


# -- 1. eval: CPU generators, the same degradation for consistency, per-axis integer scales --
def test_eval_degrades_with_a_cpu_generator_and_redegrades_with_the_same_state(toy, tmp_path):
    from restore_core.evaluation import evaluate

    data = tmp_path / "hr"
    data.mkdir()
    toy_file(data / "a.toy", grey((24, 24)))
    rows = evaluate("toyio", None, data=data, output_dir=tmp_path / "eval", flags={"seed": 5})
    degrades = [details for what, details in toy if what == "degrade"]
    assert len(degrades) == 2 and degrades[0] is not None and degrades[0][0] == "cpu"
    assert degrades[1] == degrades[0]  # same generator state: the same noise is re-applied
    assert np.isfinite(rows[0]["consistency_mse"])


def test_eval_accepts_per_axis_integer_scales_and_refuses_fractions(toy, tmp_path, capsys):
    from restore_core.evaluation import evaluate

    data = tmp_path / "hr"
    data.mkdir()
    toy_file(data / "a.toy", grey((25, 24)))
    rows = evaluate("toyio", None, data=data, output_dir=tmp_path / "eval", flags={"scale": "2,2"})
    assert ("factory", (2, 2)) in toy and rows[0]["scale"] == "2,2"
    evaluate("toyio", None, data=data, output_dir=tmp_path / "eval", flags={"scale": 2})
    assert ("factory", 2) in toy
    before = listing(tmp_path)
    assert main(["eval", "--plugin", "toyio", "--data", str(data), "--out", str(tmp_path / "e2"), "--scale", "2.5"]) == 2
    assert "integer scale" in one_error_line(capsys)
    assert listing(tmp_path) == before


# -- 3. a writer's check refuses before the method runs, naming the real target --------------
def test_writer_check_refuses_before_the_method_runs(toy, tmp_path, capsys):
    src = toy_file(tmp_path / "in.toy", grey(dtype=np.float32))
    target = tmp_path / "out.toy"
    before = listing(tmp_path)
    assert main(["--plugin", "toyio", str(src), "-o", str(target), "--device", "cpu"]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"restore: error: {target}: ") and "integers only" in line
    assert not any(what == "restore" for what, _ in toy)
    assert listing(tmp_path) == before


# -- 4. config: YAML errors, open sections, section/value and type checks --------------------
def test_yaml_syntax_error_is_one_config_error_line(toy, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("scale: 3\nsampler:\n  steps: [1, 2\n")
    assert main(["config", "show", "--plugin", "toyio", "--config", str(bad)]) == 2
    line = one_error_line(capsys)
    assert "bad.yaml" in line and "YAML syntax error at line" in line


@pytest.fixture
def schema_registry() -> Registry:
    registry = Registry()
    register = registry.callback("configs", "toy")
    register(method="defaults", config={"rate": 0.5, "flag": True, "name": "x", "sizes": [1, 2], "axis": 2, "io": {"threads": "all"},
                                        "_types": {"axis": ["int", "str"], "io": {"threads": ["str", "int"]}}})
    register(method="m", config={"train": {"params": {}}, "model": {"encoder": None, "depth": 2}})
    return registry


def test_open_sections_accept_new_keys(schema_registry):
    cfg = compose_config(schema_registry, "toy", "m", overrides=["train.params.noise_sigma=0.05", "model.encoder.num_features=8"])
    assert cfg.train.params.noise_sigma == 0.05 and cfg.model.encoder.num_features == 8
    assert "_types" not in cfg
    overrides = ["rate=1", "sizes=[3]", "axis=auto", "io.threads=4", "model.encoder=null", "sampler.steps=4"]
    cfg = compose_config(schema_registry, "toy", "m", overrides=overrides)
    assert (cfg.rate, list(cfg.sizes), cfg.axis, cfg.io.threads, cfg.sampler.steps) == (1, [3], "auto", 4, 4)


@pytest.mark.parametrize(
    "override, needle",
    [
        ("sampler=5", "'sampler' is a section"),
        ("model=null", None),
        ("model.depth.x=1", "'model.depth' is a value"),
        ("sampler.steps=abc", "'sampler.steps' must be an integer, got 'abc'"),
        ("sampler.steps=2.5", "'sampler.steps' must be an integer"),
        ("flag=1", "'flag' must be true or false"),
        ("name=5", "'name' must be a string"),
        ("rate=fast", "'rate' must be a number"),
        ("sizes=3", "'sizes' must be a list"),
        ("train.params=3", "'train.params' is a section"),
        ("model.depht=3", "unknown config key 'model.depht' (did you mean 'model.depth'?)"),
    ],
)
def test_type_and_shape_errors_name_the_key(schema_registry, override, needle):
    if needle is None:  # null switches a section off
        compose_config(schema_registry, "toy", "m", overrides=[override])
        return
    with pytest.raises(ConfigError) as info:
        compose_config(schema_registry, "toy", "m", overrides=[override])
    assert needle in str(info.value) and "\n" not in str(info.value)


# -- 5. --quiet: absent means "the config decides" --------------------------------------------
def test_quiet_in_a_config_file_is_honoured(toy, tmp_path):
    src = toy_file(tmp_path / "in.toy", grey())
    user = tmp_path / "user.yaml"
    user.write_text("quiet: true\n")
    assert main(["--plugin", "toyio", str(src), "-o", str(tmp_path / "a.toy"), "--config", str(user), "--device", "cpu"]) == 0
    assert main(["--plugin", "toyio", str(src), "-o", str(tmp_path / "b.toy"), "--device", "cpu"]) == 0
    assert main(["--plugin", "toyio", str(src), "-o", str(tmp_path / "c.toy"), "--device", "cpu", "--quiet"]) == 0
    assert [quiet for what, quiet in toy if what == "restore"] == [True, False, True]
    assert OmegaConf.load(tmp_path / "a.toy.yaml").quiet is True


# -- 6. SIGTERM removes temporary outputs ------------------------------------------------------
def test_sigterm_leaves_no_temporary_file(plugin_site, tmp_path):
    plugin_site("slowtoy", TOY.format(slow=True))
    work = tmp_path / "work"
    work.mkdir()
    src = toy_file(work / "in.toy", grey())
    before = listing(work)
    process = subprocess.Popen(
        [sys.executable, "-m", "restore_core.cli", "--plugin", "slowtoy", str(src), "-o", str(work / "out.toy"), "--device", "cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )
    try:
        deadline = time.time() + 120
        while not any(name.startswith(".out.toy.") for name in listing(work)):
            assert process.poll() is None and time.time() < deadline, process.communicate()
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode in (143, 130), err
    assert listing(work) == before


# -- 7. plugin choice without --plugin; several inputs and -o FILE ----------------------------
def test_missing_input_is_named_without_plugin(toy, tmp_path, capsys):
    assert main([str(tmp_path / "nope.toy")]) == 2
    line = one_error_line(capsys)
    assert "nope.toy" in line and "no such file or directory" in line


def test_folder_input_chooses_the_plugin_by_its_files(toy, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    toy_file(folder / "a.toy", grey())
    toy_file(folder / "b.toy", grey())
    assert main([str(folder), "-o", str(tmp_path / "out"), "--device", "cpu"]) == 0
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"a.toy", "a.toy.yaml", "b.toy", "b.toy.yaml"}


def test_several_inputs_and_an_existing_output_file_is_a_usage_error(toy, tmp_path, capsys):
    a, b = toy_file(tmp_path / "a.toy", grey()), toy_file(tmp_path / "b.toy", grey())
    existing = toy_file(tmp_path / "existing.toy", grey())
    before = listing(tmp_path)
    assert main(["--plugin", "toyio", str(a), str(b), "-o", str(existing), "--device", "cpu"]) == 2
    assert "existing.toy: is a file" in one_error_line(capsys)
    assert not toy and listing(tmp_path) == before


# -- 8. the YAML is in place before the output appears, and removed if the output fails -------
def test_config_yaml_is_written_before_the_output_is_renamed(toy, tmp_path, monkeypatch):
    src = toy_file(tmp_path / "in.toy", grey())
    target = tmp_path / "out.toy"
    real_replace = os.replace
    seen: list[bool] = []

    def spy(source, destination):
        if Path(destination) == target:
            seen.append(Path(str(target) + ".yaml").is_file())
        return real_replace(source, destination)

    monkeypatch.setattr(os, "replace", spy)
    assert main(["--plugin", "toyio", str(src), "-o", str(target), "--device", "cpu"]) == 0
    assert seen == [True]


def test_config_yaml_is_removed_when_the_output_rename_fails(toy, tmp_path, monkeypatch):
    src = toy_file(tmp_path / "in.toy", grey())
    target = tmp_path / "out.toy"
    real_replace = os.replace

    def failing(source, destination):
        if Path(destination) == target:
            raise OSError(28, "No space left on device")
        return real_replace(source, destination)

    monkeypatch.setattr(os, "replace", failing)
    before = listing(tmp_path)
    assert main(["--plugin", "toyio", str(src), "-o", str(target), "--device", "cpu"]) != 0
    assert listing(tmp_path) == before


def test_null_switches_off_a_named_choice():
    from restore_core.config import compose_config
    from restore_core.plugins import require_plugin

    registry = require_plugin("image").registry
    cfg = compose_config(registry, "image", "sr3", overrides=["consistency.name=null"])
    assert cfg.consistency.name is None


def test_reference_flag_reaches_the_config_and_is_checked(tmp_path, capsys):
    import numpy as np
    from omegaconf import OmegaConf
    from PIL import Image

    from restore_core.cli import main

    src, ref = tmp_path / "in.png", tmp_path / "ref.png"
    for path in (src, ref):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    assert main(["--plugin", "image", "--method", "bicubic", str(src), "--ref", str(tmp_path / "nope.png"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "nope.png" in err and "reference" in err and not (tmp_path / "in_restored.png").exists()
    assert main(["--plugin", "image", "--method", "bicubic", str(src), "--ref", str(src), "--quiet"]) == 2
    assert "reference is also an input" in capsys.readouterr().err
    assert main(["--plugin", "image", "--method", "bicubic", str(src), "--ref", str(ref), "--scale", "2", "--quiet"]) == 0
    assert OmegaConf.load(tmp_path / "in_restored.png.yaml").ref == str(ref)
