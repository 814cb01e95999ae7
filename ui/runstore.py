"""The run store: every training run kept on the server's disk, so no reload loses work.

One folder per run, named by its run id (the id that sits in the page URL as ``?run=<id>``)::

    <root>/<run_id>/
        config.json        RunConfig.to_dict()
        meta.json          status, stop reason, final metrics, timestamps
        history.json       the training history (steps, losses, accuracies, statistics)
        model.npz          latest weights (netcore.model.save_model: arrays + architecture JSON)
        snapshots/step-00000123.npz   weight snapshots spaced through training

The root is ``$NETCORE_RUNS_DIR`` or ``~/.cache/netcore-lab/runs``. Everything is JSON or
``.npz`` read with ``allow_pickle=False``. Files are written to a temporary name and renamed,
so a crash never leaves half a file. Old runs are evicted by a total-size cap
(``$NETCORE_RUNS_MAX_MB``, default 500), oldest first, never a run that is still training.

No Streamlit here: the training thread writes to the store too.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

RUN_ID_RE = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")
"""Run ids look like ``20250101-120000-1a2b3c``: sortable by time, safe in a path and a URL."""

_SNAP_RE = re.compile(r"^step-([0-9]{8})\.npz$")


def default_root() -> Path:
    env = os.environ.get("NETCORE_RUNS_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "netcore-lab" / "runs"


def default_max_bytes() -> int:
    try:
        return int(float(os.environ.get("NETCORE_RUNS_MAX_MB", 500)) * 1024 * 1024)
    except ValueError:
        return 500 * 1024 * 1024


def new_run_id() -> str:
    """A fresh run id: local time plus 24 random bits."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def is_run_id(text) -> bool:
    return isinstance(text, str) and bool(RUN_ID_RE.match(text))


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"cannot store {type(o).__name__} as JSON")


def _clean_floats(o):
    """JSON has no NaN/inf: store them as None (a diverged loss is a gap in the curve)."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _clean_floats(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean_floats(v) for v in o]
    if isinstance(o, np.ndarray):
        return _clean_floats(o.tolist())
    if isinstance(o, np.generic):
        return _clean_floats(o.item())
    return o


def _atomic_write(path: Path, write) -> None:
    """Call ``write(file_object)`` on a temporary file next to `path`, then rename it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: Path, obj, *, indent: int | None = 1) -> None:
    """`obj` as JSON; NaN and inf become null. ``indent=None`` writes one compact line,
    several times faster for a big file (Python's C encoder only runs without indent)."""
    try:  # the usual case: nothing to clean, no Python-level walk over every number
        text = json.dumps(obj, default=_json_default, indent=indent, allow_nan=False)
    except ValueError:
        text = json.dumps(_clean_floats(obj), default=_json_default, indent=indent)
    _atomic_write(Path(path), lambda f: f.write(text.encode("utf-8")))


def read_json(path: Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Save named arrays as an uncompressed .npz (fast; weights barely compress)."""
    _atomic_write(Path(path), lambda f: np.savez(f, **arrays))


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


class RunStore:
    """A folder of runs. Thread-safe for distinct runs (each run has one writer: its job)."""

    def __init__(self, root: str | Path | None = None, max_bytes: int | None = None):
        self.root = Path(root) if root is not None else default_root()
        self.max_bytes = default_max_bytes() if max_bytes is None else int(max_bytes)
        self.root.mkdir(parents=True, exist_ok=True)

    # -- paths --------------------------------------------------------------------------
    def path(self, run_id: str) -> Path:
        if not is_run_id(run_id):
            raise ValueError(f"not a run id: {run_id!r}")
        return self.root / run_id

    def exists(self, run_id: str) -> bool:
        return is_run_id(run_id) and (self.root / run_id / "config.json").is_file()

    def model_path(self, run_id: str) -> Path:
        return self.path(run_id) / "model.npz"

    # -- writing ------------------------------------------------------------------------
    def create(self, run_id: str, config: dict, meta: dict | None = None) -> Path:
        d = self.path(run_id)
        (d / "snapshots").mkdir(parents=True, exist_ok=True)
        write_json(d / "config.json", config)
        now = time.time()
        self.write_meta(run_id, {"status": "ready", "created": now, **(meta or {})})
        return d

    def write_meta(self, run_id: str, meta: dict) -> None:
        d = self.path(run_id)
        old = {}
        if (d / "meta.json").is_file():
            try:
                old = read_json(d / "meta.json")
            except (OSError, ValueError):
                old = {}
        old.update(meta)
        old["updated"] = time.time()
        write_json(d / "meta.json", old)

    def write_history(self, run_id: str, history: dict) -> None:
        # Megabytes with the training statistics, rewritten at every checkpoint: compact.
        write_json(self.path(run_id) / "history.json", history, indent=None)

    def write_model_file(self, run_id: str, save) -> None:
        """Write the model with ``save(path)``; netcore's save_model writes atomically."""
        save(self.model_path(run_id))

    def write_snapshot(
        self, run_id: str, step: int, epoch: float, state: dict[str, np.ndarray]
    ) -> None:
        arrays = {f"param/{k}": np.asarray(v) for k, v in state.items()}
        arrays["_step"] = np.asarray(int(step), dtype=np.int64)
        arrays["_epoch"] = np.asarray(float(epoch), dtype=np.float64)
        write_arrays(self.path(run_id) / "snapshots" / f"step-{int(step):08d}.npz", arrays)

    # -- reading ------------------------------------------------------------------------
    def read_config(self, run_id: str) -> dict:
        return read_json(self.path(run_id) / "config.json")

    def read_meta(self, run_id: str) -> dict:
        p = self.path(run_id) / "meta.json"
        return read_json(p) if p.is_file() else {}

    def read_history(self, run_id: str) -> dict | None:
        p = self.path(run_id) / "history.json"
        return read_json(p) if p.is_file() else None

    def has_model(self, run_id: str) -> bool:
        return is_run_id(run_id) and self.model_path(run_id).is_file()

    def snapshot_steps(self, run_id: str) -> list[int]:
        d = self.path(run_id) / "snapshots"
        if not d.is_dir():
            return []
        steps = []
        for p in d.iterdir():
            m = _SNAP_RE.match(p.name)
            if m:
                steps.append(int(m.group(1)))
        return sorted(steps)

    def read_snapshot(self, run_id: str, step: int) -> tuple[int, float, dict[str, np.ndarray]]:
        arrays = read_arrays(self.path(run_id) / "snapshots" / f"step-{int(step):08d}.npz")
        state = {k[len("param/") :]: v for k, v in arrays.items() if k.startswith("param/")}
        return int(arrays["_step"]), float(arrays["_epoch"]), state

    def list_runs(self) -> list[dict]:
        """Every stored run, newest first: ``{"run_id", "config", "meta", "size"}``."""
        out = []
        if not self.root.is_dir():
            return out
        for d in self.root.iterdir():
            if not (is_run_id(d.name) and (d / "config.json").is_file()):
                continue
            try:
                config = read_json(d / "config.json")
                meta = read_json(d / "meta.json") if (d / "meta.json").is_file() else {}
            except (OSError, ValueError):
                continue
            out.append({"run_id": d.name, "config": config, "meta": meta})
        out.sort(key=lambda r: (r["meta"].get("updated", 0), r["run_id"]), reverse=True)
        return out

    # -- housekeeping -------------------------------------------------------------------
    def size(self, run_id: str) -> int:
        total = 0
        for dirpath, _, files in os.walk(self.path(run_id)):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.path.getsize(os.path.join(dirpath, name))
        return total

    def delete(self, run_id: str) -> None:
        shutil.rmtree(self.path(run_id), ignore_errors=True)

    def evict(self, protect=(), max_bytes: int | None = None) -> list[str]:
        """Delete the least recently updated runs until the store fits `max_bytes`.

        Runs in `protect` (live jobs, the runs open in a session) are never deleted.
        Returns the deleted run ids.
        """
        cap = self.max_bytes if max_bytes is None else max_bytes
        protect = set(protect)
        runs = (
            [d.name for d in self.root.iterdir() if is_run_id(d.name)] if self.root.is_dir() else []
        )
        sizes = {r: self.size(r) for r in runs}
        total = sum(sizes.values())
        if total <= cap:
            return []

        def updated(run_id):
            try:
                return read_json(self.root / run_id / "meta.json").get("updated", 0)
            except (OSError, ValueError):
                return 0

        deleted = []
        for run_id in sorted(runs, key=updated):
            if total <= cap:
                break
            if run_id in protect:
                continue
            self.delete(run_id)
            total -= sizes[run_id]
            deleted.append(run_id)
        return deleted
