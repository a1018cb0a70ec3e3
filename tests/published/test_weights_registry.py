"""``restore weights list|show|add``: entries checked against their architecture, files hashed, downloads verified."""
from __future__ import annotations

import hashlib
import io
import json

import pytest
import torch
import yaml

from restore_core import published
from restore_core.cli import main
from tests.published.toy_arch import ToyNet
from tests.test_weights import FileServer


@pytest.fixture(autouse=True)
def toy_arch(monkeypatch, tmp_path):
    """A toy architecture beside the real ones, and a private weights cache."""
    monkeypatch.setitem(published.ARCHITECTURES, "toy", "tests.published.toy_arch:build")
    monkeypatch.setenv("RESTORE_CACHE", str(tmp_path / "cache"))
    (tmp_path / "toy.yaml").write_text("width: 4\nin_channels: 3\n")


def toy_file(tmp_path, name="w.pth", width=4):
    torch.manual_seed(1)
    path = tmp_path / name
    torch.save({"state_dict": {f"module.{k}": v for k, v in ToyNet(width).state_dict().items()}}, path)
    return path


def test_add_a_file_then_list_and_show(tmp_path, capsys):
    path = toy_file(tmp_path)
    assert main(["weights", "add", "mine", "--file", str(path), "--arch", "toy", "--config", str(tmp_path / "toy.yaml"),
                 "--licence", "CC0", "--trained-on", "nothing"]) == 0
    assert "added 'mine'" in capsys.readouterr().out
    copied = tmp_path / "cache" / "mine.pth"
    assert copied.is_file()
    assert main(["weights", "list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["mine"]["present"] and rows["mine"]["origin"] == "added"
    assert main(["weights", "show", "mine"]) == 0
    card = yaml.safe_load(capsys.readouterr().out)
    assert card["arch"] == "toy" and card["licence"] == "CC0" and card["config"] == {"width": 4, "in_channels": 3}
    assert card["sha256"] == hashlib.sha256(copied.read_bytes()).hexdigest()
    copied.write_bytes(b"changed")  # a changed file is no longer present
    assert main(["weights", "list", "--json"]) == 0
    assert not {r["name"]: r for r in json.loads(capsys.readouterr().out)}["mine"]["present"]


def test_a_file_that_does_not_fit_is_one_line_and_adds_nothing(tmp_path, capsys):
    path = toy_file(tmp_path, width=8)
    assert main(["weights", "add", "wrong", "--file", str(path), "--arch", "toy", "--config", str(tmp_path / "toy.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "does not fit architecture 'toy'" in err and "mis-shaped" in err
    assert not (tmp_path / "cache" / "registry.yaml").exists()


def test_unknown_arch_and_url_without_sha256_are_usage_errors(tmp_path, capsys):
    path = toy_file(tmp_path)
    assert main(["weights", "add", "x", "--file", str(path), "--arch", "nope", "--config", str(tmp_path / "toy.yaml")]) == 2
    assert "unknown architecture 'nope'" in capsys.readouterr().err
    assert main(["weights", "add", "x", "--url", "http://127.0.0.1:9/x.pth", "--arch", "toy", "--config", str(tmp_path / "toy.yaml")]) == 2
    assert "--url needs --sha256" in capsys.readouterr().err


@pytest.fixture
def server(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("RESTORE_OFFLINE", raising=False)
    file_server = FileServer()
    yield file_server
    file_server.close()


@pytest.mark.parametrize("fault", [None, "truncated", "corrupted"])
def test_add_by_url_verifies_the_download(tmp_path, capsys, server, fault):
    buffer = io.BytesIO()
    torch.manual_seed(2)
    torch.save(ToyNet().state_dict(), buffer)
    body = buffer.getvalue()
    server.files["/toy.pth"] = body if fault != "corrupted" else body[:-4] + b"XXXX"
    if fault == "truncated":
        server.truncate["/toy.pth"] = len(body) // 2
    code = main(["weights", "add", "net", "--url", f"{server.base_url}/toy.pth", "--sha256", hashlib.sha256(body).hexdigest(),
                 "--arch", "toy", "--config", str(tmp_path / "toy.yaml")])
    cache = tmp_path / "cache"
    if fault is None:
        assert code == 0 and (cache / "toy.pth").read_bytes() == body
        assert "net" in yaml.safe_load((cache / "registry.yaml").read_text())
    else:
        err = capsys.readouterr().err
        assert code == 2 and ("cut short" in err if fault == "truncated" else "corrupt" in err)
        assert not cache.exists() or sorted(p.name for p in cache.iterdir()) == []


def test_every_known_runnable_entry_builds_and_names_its_schedule():
    """The shipped catalogue: each entry with an architecture builds from its config (on the meta device, no
    weights), and each guided-diffusion/difface prior has a schedule the zero-shot methods can read."""
    from restore_core.engine.prior import schedule_settings
    from restore_core.published.catalogue import WeightsRegistry

    registry = WeightsRegistry()
    known = [e for e in registry.entries.values() if e.origin == "known"]
    assert len(known) >= 10
    for entry in known:
        assert entry.licence != "unknown" and entry.source, entry.name
        if entry.arch is None:
            continue
        with torch.device("meta"):
            published.build(entry.arch, dict(entry.config))
        if entry.arch in ("guided-diffusion", "difface"):
            settings = schedule_settings(dict(entry.diffusion))
            assert settings.get("beta_schedule") in ("linear", "cosine") and int(settings["timesteps"]) > 0, entry.name


def test_a_name_cannot_leave_the_cache_and_a_bad_config_is_one_line(tmp_path, capsys):
    path = toy_file(tmp_path)
    for name in ("../../escaped", "a/b"):
        assert main(["weights", "add", name, "--file", str(path), "--arch", "toy", "--config", str(tmp_path / "toy.yaml")]) == 2
        assert "use letters, digits" in capsys.readouterr().err
    assert not list(tmp_path.parent.glob("escaped*")) and not (tmp_path / "escaped.pth").exists()
    (tmp_path / "bad.yaml").write_text("width: 4\nwrong_argument: 1\n")
    assert main(["weights", "add", "x", "--file", str(path), "--arch", "toy", "--config", str(tmp_path / "bad.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot build 'toy'" in err and "\n" not in err
