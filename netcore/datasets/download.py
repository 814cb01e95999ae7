"""Download once, verify, cache: the only part of the lab that touches the network.

Rules that keep the cache trustworthy:

* a file is written to a temporary name in the cache folder and renamed to its real name only
  after its md5 matches the published checksum, so a file under its real name is always a
  complete, verified download (an interrupted, damaged or wrong download leaves nothing);
* every failure (no network, server error, short read, wrong checksum, full disk, unwritable
  folder) becomes a `DatasetError` whose message says what happened and what to do;
* parsed arrays are saved next to the raw files as ``parsed.npz`` (no pickle) for fast reloads.

Cache folder: ``$NETCORE_DATA_DIR`` if set, else ``$XDG_CACHE_HOME/netcore-lab/datasets``
(``~/.cache/netcore-lab/datasets``). Each set gets a subfolder named by its key.
Mirror: ``$NETCORE_DATA_MIRROR`` (or the ``mirror`` argument) replaces the official hosts; it
must serve ``<mirror>/<key>/<file name>``, e.g. ``http://127.0.0.1:8000/mnist/t10k-...gz``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from netcore.datasets.core import DatasetError, ProgressCallback

CHUNK = 1 << 16  # 64 KiB per read: a progress update every few milliseconds
TIMEOUT = 30.0  # seconds without any byte before we give up
OFFLINE_HINT = "The bundled MNIST subset keeps working offline."


@dataclass(frozen=True)
class RemoteFile:
    name: str
    md5: str


@dataclass(frozen=True)
class Source:
    """A downloadable set: ``base_url + file.name`` for each file."""

    base_url: str
    files: tuple[RemoteFile, ...]


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The download cache folder (not created here)."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("NETCORE_DATA_DIR"):
        return Path(os.environ["NETCORE_DATA_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "netcore-lab" / "datasets"


def dataset_dir(key: str, cache_dir: str | Path | None = None) -> Path:
    return cache_root(cache_dir) / key


def is_cached(key: str, source: Source, cache_dir: str | Path | None = None) -> bool:
    """True when the set can be loaded without the network."""
    folder = dataset_dir(key, cache_dir)
    if (folder / "parsed.npz").is_file():
        return True
    return all((folder / f.name).is_file() for f in source.files)


def file_url(key: str, source: Source, name: str, mirror: str | None = None) -> str:
    mirror = mirror if mirror is not None else os.environ.get("NETCORE_DATA_MIRROR")
    if mirror:
        return f"{mirror.rstrip('/')}/{key}/{name}"
    return source.base_url + name


def fetch(
    key: str,
    source: Source,
    *,
    progress: ProgressCallback | None = None,
    cache_dir: str | Path | None = None,
    mirror: str | None = None,
) -> list[Path]:
    """Make sure every file of `source` is in the cache; return their paths in order."""
    folder = dataset_dir(key, cache_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _write_error(e, folder, key) from e
    paths = []
    for f in source.files:
        path = folder / f.name
        if not path.is_file():
            download_file(file_url(key, source, f.name, mirror), path, f.md5, progress)
        paths.append(path)
    return paths


def download_file(url: str, dest: Path, md5: str, progress: ProgressCallback | None = None) -> Path:
    """Download `url` to `dest`, checking its md5; nothing is left at `dest` on failure."""
    dest = Path(dest)
    name = dest.name
    try:
        response = urllib.request.urlopen(url, timeout=TIMEOUT)
    except urllib.error.HTTPError as e:
        raise DatasetError(
            f"The server refused {name}: {url} answered {e.code} {e.reason}. Try again later "
            f"or set NETCORE_DATA_MIRROR to another copy. {OFFLINE_HINT}"
        ) from e
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", e)
        raise DatasetError(
            f"Could not download {name} from {url} ({reason}). Check the internet "
            f"connection, then try again. {OFFLINE_HINT}"
        ) from e
    with response:
        total = response.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
        tmp = _stream_to_temp(response, dest, url, total, progress)
    try:
        digest = _md5(tmp)
        if digest != md5.lower():
            raise DatasetError(
                f"{name} from {url} is not the expected file (md5 {digest}, expected {md5}); "
                "it was deleted. The server may hold a damaged or changed copy: try again "
                f"later or use another mirror. {OFFLINE_HINT}"
            )
        os.replace(tmp, dest)
    except BaseException:
        _remove(tmp)
        raise
    return dest


def _stream_to_temp(response, dest: Path, url: str, total, progress) -> Path:
    """Copy the response body to a temporary file next to `dest`; return its path."""
    name = dest.name
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest.parent)
    except OSError as e:
        raise _write_error(e, dest.parent, name) from e
    tmp = Path(tmp_name)
    done = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (OSError, http.client.HTTPException) as e:
                    raise DatasetError(
                        f"The download of {name} from {url} broke off after {_mb(done)} "
                        f"({e}). Nothing was kept; try again. {OFFLINE_HINT}"
                    ) from e
                if not chunk:
                    break
                _write(out, chunk, dest, total)
                done += len(chunk)
                if progress is not None:
                    progress(done, total, name)
        if total is not None and done != total:
            raise DatasetError(
                f"The download of {name} from {url} stopped after {_mb(done)} of "
                f"{_mb(total)} (the connection was closed early). Nothing was kept; try "
                f"again. {OFFLINE_HINT}"
            )
    except BaseException:
        _remove(tmp)
        raise
    return tmp


def _write(out, chunk: bytes, dest: Path, total) -> None:
    try:
        out.write(chunk)
    except OSError as e:
        raise _write_error(e, dest.parent, dest.name, total) from e


def _write_error(e: OSError, folder: Path, name: str, size=None) -> DatasetError:
    if e.errno == errno.ENOSPC:
        need = f" ({_mb(size)})" if size else ""
        return DatasetError(
            f"The disk is full: there is no room for {name}{need} in {folder}. Free some "
            "space, or set NETCORE_DATA_DIR to a folder on a disk with room; nothing was "
            f"saved. {OFFLINE_HINT}"
        )
    return DatasetError(
        f"Could not save {name} in {folder} ({e.strerror or e}). Set NETCORE_DATA_DIR to a "
        f"folder you can write to. {OFFLINE_HINT}"
    )


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)  # a checksum against damage, not a signature
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _mb(n) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


# -- parsed cache ---------------------------------------------------------------------------
_PARSED_KEYS = ("raw_train", "y_train", "raw_test", "y_test")


def load_parsed(key: str, cache_dir: str | Path | None = None):
    """The four arrays saved by `save_parsed`, or None when absent or unreadable."""
    path = dataset_dir(key, cache_dir) / "parsed.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = tuple(f[k] for k in _PARSED_KEYS)
    except (OSError, ValueError, KeyError, EOFError):
        _remove(path)  # damaged: parse the raw files again
        return None
    raw_train, y_train, raw_test, y_test = arrays
    if raw_train.dtype != np.uint8 or raw_train.ndim != 4 or len(raw_train) != len(y_train):
        _remove(path)
        return None
    return arrays


def save_parsed(key: str, arrays, cache_dir: str | Path | None = None) -> None:
    """Save parsed arrays for fast reloads. Best effort: a failure only costs speed."""
    folder = dataset_dir(key, cache_dir)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=".parsed.", suffix=".npz", dir=folder)
    except OSError:
        return
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            # Uncompressed: the raw downloads are already here; this file is for speed.
            np.savez(out, **dict(zip(_PARSED_KEYS, arrays, strict=True)))
        os.replace(tmp, folder / "parsed.npz")
    except OSError:
        _remove(tmp)
