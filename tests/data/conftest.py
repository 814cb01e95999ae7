"""Fixtures for the data tests: a private cache folder and a local HTTP server.

No test here touches the internet: downloads go to a server on 127.0.0.1 that serves files the
tests generate in the real formats (IDX gzip, CIFAR-10 tar.gz of pickled batches).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """An empty download cache, also set as NETCORE_DATA_DIR so nothing writes to ~/.cache."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("NETCORE_DATA_DIR", str(folder))
    monkeypatch.delenv("NETCORE_DATA_MIRROR", raising=False)
    return folder
