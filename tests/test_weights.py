"""fetch_weights against a throwaway HTTP server on 127.0.0.1 (loopback only)."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from restore_core.weights import WeightsError, WeightSpec, default_cache_dir, fetch_weights

PAYLOAD = b"pretend these are weights" * 1000


class FileServer:
    """Serves ``files`` (URL path -> bytes) and counts requests per path."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.hits: dict[str, int] = {}
        self.truncate: dict[str, int] = {}  # path -> bytes actually sent (Content-Length still says all)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: server.truncate.get(self.path, len(body))])

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FileServer]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)  # loopback requests must not go to a proxy
    monkeypatch.delenv("RESTORE_OFFLINE", raising=False)
    file_server = FileServer()
    yield file_server
    file_server.close()


def _spec(server: FileServer, body: bytes = PAYLOAD, served: bytes | None = None) -> WeightSpec:
    server.files["/w.bin"] = body if served is None else served
    return WeightSpec(
        "tiny", f"{server.base_url}/w.bin", hashlib.sha256(body).hexdigest(), "w.bin", len(body)
    )


def test_first_fetch_downloads_second_uses_cache(server: FileServer, tmp_path: Path) -> None:
    spec = _spec(server)
    path = fetch_weights(spec, cache_dir=tmp_path, progress=True)
    assert path == tmp_path / "w.bin" and path.read_bytes() == PAYLOAD
    assert server.hits["/w.bin"] == 1
    assert fetch_weights(spec, cache_dir=tmp_path) == path
    assert server.hits["/w.bin"] == 1  # no network the second time
    assert [p.name for p in tmp_path.iterdir()] == ["w.bin"]  # no temporary files left


def test_corrupt_download_raises_and_caches_nothing(server: FileServer, tmp_path: Path) -> None:
    spec = _spec(server, served=b"tampered" + PAYLOAD[8:])
    with pytest.raises(WeightsError) as error:
        fetch_weights(spec, cache_dir=tmp_path)
    message = str(error.value)
    assert spec.url in message and spec.sha256 in message
    assert hashlib.sha256(server.files["/w.bin"]).hexdigest() in message
    assert list(tmp_path.iterdir()) == []


def test_truncated_download_is_refused_leaves_nothing_and_a_retry_is_clean(server: FileServer, tmp_path: Path) -> None:
    spec = _spec(server)
    server.truncate["/w.bin"] = len(PAYLOAD) // 3  # the connection drops a third of the way
    with pytest.raises(WeightsError) as error:
        fetch_weights(spec, cache_dir=tmp_path)
    assert "could not download 'tiny'" in str(error.value) and "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []
    del server.truncate["/w.bin"]
    assert fetch_weights(spec, cache_dir=tmp_path).read_bytes() == PAYLOAD  # the retry starts afresh


def test_corrupt_cached_file_is_replaced(server: FileServer, tmp_path: Path) -> None:
    spec = _spec(server)
    (tmp_path / "w.bin").write_bytes(b"half a download")
    assert fetch_weights(spec, cache_dir=tmp_path).read_bytes() == PAYLOAD
    assert server.hits["/w.bin"] == 1


def test_http_error_names_the_url_and_leaves_nothing(server: FileServer, tmp_path: Path) -> None:
    spec = WeightSpec("gone", f"{server.base_url}/missing.bin", "0" * 64, "missing.bin")
    with pytest.raises(WeightsError, match=re.escape(f"could not download 'gone' from {server.base_url}")):
        fetch_weights(spec, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_offline_mode_says_where_to_put_the_file(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _spec(server)
    monkeypatch.setenv("RESTORE_OFFLINE", "1")
    with pytest.raises(WeightsError, match="RESTORE_OFFLINE") as error:
        fetch_weights(spec, cache_dir=tmp_path)
    assert str(tmp_path / "w.bin") in str(error.value) and spec.sha256 in str(error.value)
    assert server.hits == {}
    (tmp_path / "w.bin").write_bytes(PAYLOAD)  # placed by hand: works offline
    assert fetch_weights(spec, cache_dir=tmp_path).read_bytes() == PAYLOAD


def test_default_cache_dir_honours_restore_cache(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESTORE_CACHE", str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache"
    assert fetch_weights(_spec(server)) == tmp_path / "cache" / "w.bin"
    monkeypatch.delenv("RESTORE_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "restore" / "weights"


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="64 hex"):
        WeightSpec("x", "https://example.org/x", "abc", "x.bin")
    with pytest.raises(ValueError, match="plain file name"):
        WeightSpec("x", "https://example.org/x", "0" * 64, "../x.bin")
    with pytest.raises(ValueError, match="http"):
        WeightSpec("x", "file:///etc/passwd", "0" * 64, "x.bin")
