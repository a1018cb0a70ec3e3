"""Config layering: core defaults < plugin < method < --config file < flags < key=value."""
from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from restore_core.cli import main
from restore_core.config import compose_config
from restore_core.errors import ConfigError
from restore_core.plugins import require_plugin


@pytest.fixture(scope="module")
def registry():
    return require_plugin("image").registry


def test_layers_apply_in_order(registry, tmp_path):
    cfg = compose_config(registry, "image", "bicubic")
    assert cfg.scale == 4  # method config (core default is also 4: check a plugin-only key too)
    assert cfg.io.jpeg_quality == 95 and cfg.sampler.steps == 50
    user = tmp_path / "user.yaml"
    user.write_text("scale: 3\nsampler:\n  steps: 7\nio:\n  jpeg_quality: 80\n")
    cfg = compose_config(registry, "image", "bicubic", config_file=user)
    assert (cfg.scale, cfg.sampler.steps, cfg.io.jpeg_quality) == (3, 7, 80)
    cfg = compose_config(registry, "image", "bicubic", config_file=user, flags={"scale": 2})
    assert (cfg.scale, cfg.sampler.steps) == (2, 7)
    cfg = compose_config(registry, "image", "bicubic", config_file=user, flags={"scale": 2}, overrides=["scale=5", "sampler.steps=9"])
    assert (cfg.scale, cfg.sampler.steps, cfg.io.jpeg_quality) == (5, 9, 80)


def test_unknown_key_in_file_is_an_error_with_hint(registry, tmp_path):
    user = tmp_path / "typo.yaml"
    user.write_text("io:\n  jpeg_qualty: 80\n")
    with pytest.raises(ConfigError, match=r"typo.yaml: unknown config key 'io.jpeg_qualty' \(did you mean 'io.jpeg_quality'\?\)"):
        compose_config(registry, "image", "bicubic", config_file=user)


def test_malformed_override(registry):
    with pytest.raises(ConfigError, match="key=value"):
        compose_config(registry, "image", "bicubic", overrides=["scale"])


def test_resolved_config_is_read_only(registry):
    cfg = compose_config(registry, "image", "bicubic")
    with pytest.raises(Exception):
        cfg.scale = 8


def test_config_show_prints_resolved_config(capsys):
    assert main(["config", "show", "--plugin", "image", "--method", "bicubic", "scale=2"]) == 0
    shown = OmegaConf.create(capsys.readouterr().out)
    assert shown.plugin == "image" and shown.method == "bicubic" and shown.scale == 2


def test_resolved_config_is_written_beside_the_output(tmp_path, capsys):
    from PIL import Image
    import numpy as np

    src = tmp_path / "x.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(src)
    assert main(["--plugin", "image", "--method", "bicubic", str(src), "--scale", "2", "io.jpeg_quality=70", "--quiet"]) == 0
    written = OmegaConf.load(tmp_path / "x_restored.png.yaml")
    assert written.scale == 2 and written.io.jpeg_quality == 70 and written.method == "bicubic"
