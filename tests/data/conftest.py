"""Fixtures for the data tests: a private cache folder and a local HTTP server.

No test here touches the internet: downloads go to a server on 127.0.0.1 that serves files the
tests generate in the real formats (IDX gzip, CIFAR-10 tar.gz of pickled batches).
"""

from __future__ import annotations

import http.server
import socket
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
for folder in (ROOT, HERE):  # the project, and data_fakes.py (generators of test files)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """An empty download cache, also set as NETCORE_DATA_DIR so nothing writes to ~/.cache."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("NETCORE_DATA_DIR", str(folder))
    monkeypatch.delenv("NETCORE_DATA_MIRROR", raising=False)
    return folder


class LocalServer:
    """An HTTP server on 127.0.0.1 serving `files` ({"/mnist/name": bytes}).

    ``truncate[path] = n`` sends the full Content-Length but only `n` bytes, then closes the
    connection (an interrupted download).
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.truncate: dict[str, int] = {}
        self.requests: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests.append(self.path)
                body = owner.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                cut = owner.truncate.get(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body if cut is None else body[:cut])
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):  # keep the test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    with LocalServer() as s:
        yield s


@pytest.fixture
def dead_url():
    """A URL on 127.0.0.1 where nothing listens (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
