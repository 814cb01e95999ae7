"""The app's state, in one place: which dataset, which run, which model, for every page.

Pages read state only through these functions (they are the only code that knows the
``st.session_state`` keys)::

    current_dataset_key() -> str             the chosen dataset key (MNIST subset by default)
    current_dataset()     -> Dataset          the loaded netcore Dataset for that key
    current_run()         -> RunHandle | None the session's run (live or from the run store)
    current_model()       -> (model, info) | None   what the views show: the run's model,
                                                    or a model the user uploaded to inspect
    list_runs()           -> list[dict]       every run in the store (for comparisons)

A run is identified by its run id, kept in the URL (``?run=<id>``): a reload, a second tab or
a bookmark finds the same run again, even while it trains (live jobs sit in a process-wide
registry; finished runs in the run store on disk).
"""

from __future__ import annotations

import os
import threading
import uuid
from dataclasses import dataclass

import streamlit as st

from ui.config import Limits, RunConfig
from ui.jobs import ACTIVE, ComputeSlots, JobRegistry, LimitError, TrainingJob
from ui.runstore import RunStore, default_root, is_run_id

K_DATASET = "nc.dataset"
K_RUN = "nc.run_id"
K_HANDLE = "nc.handle"
K_UPLOAD = "nc.upload"
K_DRAFT = "nc.draft"
K_DRAFT_VERSION = "nc.draft_version"

DEFAULT_DATASET = "mnist_5k"

__all__ = [
    "RunHandle",
    "LimitError",
    "current_dataset_key",
    "set_dataset_key",
    "current_dataset",
    "current_run",
    "current_model",
    "list_runs",
    "draft_config",
    "set_draft_config",
    "start_run",
    "open_run",
    "close_run",
    "registry",
    "run_store",
    "sync_url",
]


# -- process-wide resources ----------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def _registry(max_jobs: int, max_live: int, grace_s: float) -> JobRegistry:
    return JobRegistry(ComputeSlots(max_jobs), max_live=max_live, grace_s=grace_s)


def registry() -> JobRegistry:
    """The process-wide table of live training jobs (shared by every browser session)."""
    limits = Limits.from_env()
    grace = float(os.environ.get("NETCORE_ORPHAN_GRACE_S", 30))
    return _registry(limits.max_jobs, limits.max_live_jobs, grace)


@st.cache_resource(show_spinner=False)
def _run_store(root: str) -> RunStore:
    return RunStore(root)


def run_store() -> RunStore:
    """The server's run store (``$NETCORE_RUNS_DIR`` or ``~/.cache/netcore-lab/runs``)."""
    return _run_store(str(default_root()))


@dataclass(frozen=True)
class _SessionToken:
    id: str
    registry: JobRegistry


def _release_session(token: _SessionToken) -> None:
    token.registry.release_session(token.id)


@st.cache_resource(scope="session", on_release=_release_session, show_spinner=False)
def _session_token(_registry: JobRegistry) -> _SessionToken:
    return _SessionToken(uuid.uuid4().hex, _registry)


def session_id() -> str:
    """An id for this browser session; when the session ends, its jobs are let go."""
    return _session_token(registry()).id


# -- dataset -------------------------------------------------------------------------------
def default_dataset_key() -> str:
    try:
        from netcore import datasets

        return getattr(datasets, "DEFAULT_DATASET", DEFAULT_DATASET)
    except ImportError:
        return DEFAULT_DATASET


def current_dataset_key() -> str:
    """The dataset every page uses: the user's choice, else the run's, else the default."""
    key = st.session_state.get(K_DATASET)
    if key:
        return key
    run = current_run()
    if run is not None:
        return run.config.dataset
    return default_dataset_key()


def set_dataset_key(key: str) -> None:
    st.session_state[K_DATASET] = key


def load_dataset(key: str):
    """The netcore Dataset for `key`, loaded once per server (cached)."""
    try:
        from ui import data as ui_data
    except ImportError:
        ui_data = None
    fn = getattr(ui_data, "get_dataset", None) if ui_data is not None else None
    if callable(fn):
        return fn(key)
    return _load_dataset_cached(key)


@st.cache_resource(show_spinner="Loading the dataset ...", max_entries=8)
def _load_dataset_cached(key: str):
    from netcore.datasets import load_dataset as _load

    return _load(key)


def current_dataset():
    """The loaded netcore Dataset for `current_dataset_key()`."""
    return load_dataset(current_dataset_key())


# -- the run handle ------------------------------------------------------------------------
class RunHandle:
    """One training run, live (a job in the registry) or stored (in the run store).

    Attributes and methods other pages use: ``run_id``, ``config`` (RunConfig), ``status``,
    ``history``, ``stop_reason``, ``model_copy()``, ``snapshots()``, ``model_at(step)``,
    plus ``job`` (the TrainingJob or None), ``snapshot()`` (a JobSnapshot) and ``live``.
    """

    def __init__(
        self,
        run_id: str,
        config: RunConfig,
        *,
        job: TrainingJob | None = None,
        store: RunStore | None = None,
    ):
        self.run_id = run_id
        self.config = config
        self.job = job
        self.store = store
        self._lock = threading.Lock()
        self._model_cache: tuple[int, object] | None = None
        self._snap_cache: dict[int, tuple[int, float, dict]] = {}
        self._meta_cache: dict | None = None
        self._history_cache = None

    # -- status ------------------------------------------------------------------------
    @property
    def live(self) -> bool:
        """A job exists for this run in this server process (it may be finished)."""
        return self.job is not None

    def snapshot(self):
        """A JobSnapshot (live) or an equivalent built from the stored meta."""
        if self.job is not None:
            return self.job.snapshot()
        from ui.jobs import JobSnapshot

        meta = self._meta()
        return JobSnapshot(
            run_id=self.run_id,
            status=self.status,
            step=int(meta.get("step", 0)),
            total_steps=int(meta.get("total_steps", 0)),
            epoch=float(meta.get("epoch", 0.0)),
            lr=meta.get("lr"),
            stop_reason=meta.get("stop_reason"),
            last=meta.get("last", {}),
            history=self.history,
            elapsed_s=float(meta.get("elapsed_s", 0.0)),
        )

    @property
    def status(self) -> str:
        if self.job is not None:
            return self.job.status
        status = self._meta().get("status", "stopped")
        # A run saved as active belonged to a server process that has gone.
        return "stopped" if status in ACTIVE else status

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def stop_reason(self) -> str | None:
        if self.job is not None:
            return self.job.snapshot(with_history=False).stop_reason
        meta = self._meta()
        if meta.get("status") in ACTIVE:
            return "The server restarted while this run was training; it kept its last saved state."
        return meta.get("stop_reason")

    @property
    def history(self):
        """A copy of the training history (netcore History, incl. ``.stats``)."""
        if self.job is not None:
            return self.job.snapshot().history
        if self._history_cache is None and self.store is not None:
            from ui.training import history_from_dict

            d = self.store.read_history(self.run_id)
            self._history_cache = history_from_dict(d) if d else None
        return self._history_cache

    def _meta(self) -> dict:
        if self._meta_cache is None:
            self._meta_cache = self.store.read_meta(self.run_id) if self.store else {}
        return self._meta_cache

    # -- models ------------------------------------------------------------------------
    def _build(self, state: dict):
        from ui.training import build_from_config

        model = build_from_config(self.config)
        model.load_state_dict(state)
        return model.eval()

    def model_copy(self):
        """An eval-mode copy of the latest weights (cached per step), or None if none yet.

        Safe to run forward on while training goes on: it shares nothing with the job.
        """
        if self.job is not None:
            snap = self.job.snapshot(with_history=False)
            with self._lock:
                if self._model_cache is not None and self._model_cache[0] == snap.step:
                    return self._model_cache[1]
            state = self.job.state_dict()
            if state is None:
                return None
            model = self._build(state)
            with self._lock:
                self._model_cache = (snap.step, model)
            return model
        with self._lock:
            if self._model_cache is not None:
                return self._model_cache[1]
        if self.store is None or not self.store.has_model(self.run_id):
            return None
        from ui.training import load_model_file

        model, _ = load_model_file(self.store.model_path(self.run_id))
        model.eval()
        with self._lock:
            self._model_cache = (int(self._meta().get("step", 0)), model)
        return model

    def snapshots(self) -> list[tuple[int, float, dict]]:
        """Weight snapshots over time: [(step, epoch, state_dict)], oldest first."""
        if self.job is not None:
            return self.job.snapshots()
        if self.store is None:
            return []
        out = []
        for step in self.store.snapshot_steps(self.run_id):
            if step not in self._snap_cache:
                try:
                    self._snap_cache[step] = self.store.read_snapshot(self.run_id, step)
                except (OSError, ValueError, KeyError):
                    continue
            out.append(self._snap_cache[step])
        return out

    def snapshot_steps(self) -> list[int]:
        return [s for s, _, _ in self.snapshots()]

    def model_at(self, step: int):
        """An eval-mode model with the weights of the snapshot nearest to `step`."""
        snaps = self.snapshots()
        if not snaps:
            return self.model_copy()
        best = min(snaps, key=lambda s: abs(s[0] - int(step)))
        return self._build(best[2])

    def __repr__(self) -> str:
        return f"RunHandle({self.run_id!r}, status={self.status!r})"


# -- the current run -----------------------------------------------------------------------
def _handle_for(run_id: str) -> RunHandle | None:
    """A handle for `run_id`: attach to the live job, else open it from the store."""
    reg = registry()
    store = run_store()
    job = reg.attach(run_id, session_id())
    if job is not None:
        cfg = getattr(job, "config", None)
        if cfg is None:
            cfg = RunConfig.from_dict(store.read_config(run_id))
        return RunHandle(run_id, cfg, job=job, store=store)
    if store.exists(run_id):
        try:
            cfg = RunConfig.from_dict(store.read_config(run_id))
        except (OSError, ValueError):
            return None
        return RunHandle(run_id, cfg, store=store)
    return None


def current_run() -> RunHandle | None:
    """The session's current run, or None. Restores it from ``?run=`` after a reload."""
    run_id = st.session_state.get(K_RUN)
    if run_id is None:
        url_id = st.query_params.get("run")
        if is_run_id(url_id):
            run_id = url_id
            st.session_state[K_RUN] = run_id
    if run_id is None:
        return None
    handle = st.session_state.get(K_HANDLE)
    # A stored handle is refreshed when a live job for it appeared (another tab started it).
    if (
        handle is not None
        and handle.run_id == run_id
        and (handle.job is not None or registry().get(run_id) is None)
    ):
        if handle.job is not None and handle.job.active:
            # Cheap, and keeps this session counted as watching (a websocket reconnect
            # releases the session's token; the next run re-attaches it).
            registry().attach(run_id, session_id())
        return handle
    handle = _handle_for(run_id)
    if handle is None:
        st.session_state.pop(K_RUN, None)
        st.session_state.pop(K_HANDLE, None)
        if st.query_params.get("run") == run_id:
            del st.query_params["run"]
        return None
    st.session_state[K_HANDLE] = handle
    return handle


def sync_url() -> None:
    """Put the current run id in the URL (page switches clear the query string)."""
    run_id = st.session_state.get(K_RUN)
    if run_id is None:
        current_run()
        run_id = st.session_state.get(K_RUN)
    if run_id and st.query_params.get("run") != run_id:
        st.query_params["run"] = run_id


def open_run(run_id: str) -> RunHandle | None:
    """Make `run_id` the session's current run (from the store or the live registry)."""
    close_run()
    st.session_state[K_RUN] = run_id
    st.query_params["run"] = run_id
    return current_run()


def close_run() -> None:
    """Let go of the current run (a live job keeps training while another tab watches it)."""
    run_id = st.session_state.pop(K_RUN, None)
    st.session_state.pop(K_HANDLE, None)
    if run_id:
        registry().detach(run_id, session_id())
    if "run" in st.query_params:
        del st.query_params["run"]


def start_run(
    config: RunConfig, *, initial_state: dict | None = None, paused: bool = False
) -> RunHandle:
    """Create a run from `config`, register its job and start it; make it current.

    Raises LimitError (a limit forbids it) or ValueError (the config or model is invalid).
    """
    from ui.training import make_job

    reg = registry()
    sid = session_id()
    problems = config.problems()
    if problems:
        raise ValueError("; ".join(problems))
    current = current_run()
    if current is not None and current.active and current.job is not None:
        raise LimitError("This session already has a run training: stop it first.")
    dataset = load_dataset(config.dataset)
    job = make_job(
        config, run_store(), dataset=dataset, slots=reg.slots, initial_state=initial_state
    )
    reg.add(job, sid)
    close_run()
    st.session_state[K_RUN] = job.run_id
    st.query_params["run"] = job.run_id
    handle = RunHandle(job.run_id, config, job=job, store=run_store())
    st.session_state[K_HANDLE] = handle
    job.start(paused=paused)
    run_store().evict(protect=reg.live_ids() | {job.run_id})
    return handle


# -- the draft config (what Build and Train edit) -------------------------------------------
def draft_config() -> RunConfig:
    """The configuration being edited on the Build and Train pages (dataset kept in sync)."""
    cfg = st.session_state.get(K_DRAFT)
    if cfg is None:
        run = current_run()
        if run is not None:
            cfg = run.config.replace()
        else:
            from netcore.spec import preset_spec

            ds = current_dataset()
            cfg = config_for_dataset(RunConfig(), ds)
            cfg = cfg.replace(arch=preset_spec("lenet5", tuple(ds.input_shape), ds.n_classes))
        st.session_state[K_DRAFT] = cfg
    if cfg.dataset != current_dataset_key():
        # The user picked another dataset: the stack is re-checked against its input shape.
        ds = current_dataset()
        cfg = config_for_dataset(cfg, ds)
        set_draft_config(cfg)
    return cfg


def set_draft_config(cfg: RunConfig, *, replace_editor: bool = True) -> None:
    """Set the draft; `replace_editor` makes the Build page reload its layer rows from it."""
    st.session_state[K_DRAFT] = cfg
    if replace_editor:
        st.session_state[K_DRAFT_VERSION] = draft_version() + 1


def draft_version() -> int:
    """Bumped whenever the draft architecture is replaced from outside the Build editor."""
    return int(st.session_state.get(K_DRAFT_VERSION, 0))


def config_for_dataset(cfg: RunConfig, dataset) -> RunConfig:
    """`cfg` adapted to `dataset`: its key, input shape and class names.

    When the last layer is a Dense whose outputs matched the old number of classes, it is
    resized to the new number (the one change every dataset switch needs).
    """
    arch = [dict(layer) for layer in cfg.arch]
    n_new = int(dataset.n_classes)
    n_old = len(cfg.class_names)
    if arch and arch[-1].get("type") == "Dense" and arch[-1].get("out_features") == n_old:
        arch[-1]["out_features"] = n_new
    return cfg.replace(
        dataset=dataset.info.key,
        input_shape=tuple(int(s) for s in dataset.input_shape),
        class_names=[str(c) for c in dataset.class_names],
        arch=arch,
    )


# -- what the views show -------------------------------------------------------------------
def current_model():
    """``(model, info)`` for the views, or None when there is nothing to show yet.

    The model is the current run's latest weights (an eval-mode copy) or a model the user
    uploaded to inspect. `info` is a dict: ``source`` ("run" or "upload"), ``run_id``,
    ``label``, ``dataset``, ``input_shape``, ``class_names``, ``step``, ``epoch``,
    ``status``, ``config`` (RunConfig or None).
    """
    upload = st.session_state.get(K_UPLOAD)
    run = current_run()
    if run is not None:
        model = run.model_copy()
        if model is not None:
            snap = run.snapshot() if run.job is None else run.job.snapshot(with_history=False)
            cfg = run.config
            return model, {
                "source": "run",
                "run_id": run.run_id,
                "label": cfg.name or f"run {run.run_id}",
                "dataset": cfg.dataset,
                "input_shape": tuple(cfg.input_shape),
                "class_names": list(cfg.class_names),
                "step": snap.step,
                "epoch": snap.epoch,
                "status": snap.status,
                "config": cfg,
            }
    if upload is not None:
        return upload
    return None


def set_uploaded_model(model, info: dict) -> None:
    st.session_state[K_UPLOAD] = (model, {"source": "upload", **info})


def clear_uploaded_model() -> None:
    st.session_state.pop(K_UPLOAD, None)


def list_runs() -> list[dict]:
    """Runs in the store, newest first.

    Each item: ``run_id``, ``config`` (RunConfig), ``status``, ``metrics`` (final values,
    e.g. ``val_acc``, ``val_loss``, ``train_loss``, ``step``, ``epoch``), ``history``
    (a callable returning the History, loaded on demand), ``name``.
    """
    store = run_store()
    reg = registry()
    out = []
    for rec in store.list_runs():
        try:
            cfg = RunConfig.from_dict(rec["config"])
        except ValueError:
            continue
        meta = rec["meta"]
        run_id = rec["run_id"]
        job = reg.get(run_id)
        status = job.status if job is not None else meta.get("status", "stopped")
        if job is None and status in ACTIVE:
            status = "stopped"
        out.append(
            {
                "run_id": run_id,
                "name": cfg.name or run_id,
                "config": cfg,
                "status": status,
                "metrics": dict(meta.get("metrics", {})),
                "history": _history_loader(store, run_id, job),
                "updated": meta.get("updated"),
            }
        )
    return out


def _history_loader(store: RunStore, run_id: str, job):
    def load():
        if job is not None:
            return job.snapshot().history
        from ui.training import history_from_dict

        d = store.read_history(run_id)
        return history_from_dict(d) if d else None

    return load
