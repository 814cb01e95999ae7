"""Training in the background: `TrainingJob`, the shared `ComputeSlots`, the `JobRegistry`.

A `TrainingJob` owns one plain Python thread that calls ``stepper.step()`` one batch at a time.
The page scripts never wait for it: they call the job's methods (start, pause, resume, step,
stop, set_lr), which only flip flags under a lock, and `snapshot()`, which returns copies.
This module never imports Streamlit and its thread never touches the UI.

Classroom server (thirty students, two cores): Python threads share one interpreter lock, so
every extra computing thread makes button clicks slower. `ComputeSlots` lets at most
``NETCORE_MAX_JOBS`` (default 2) jobs compute at once; the others wait in a first-come queue
with a visible position. A computing job gives its slot back every ``slice_s`` seconds when
someone is waiting, so all students see their curves move. Between batches the thread yields
the interpreter (``time.sleep(0)``), so the web server answers clicks promptly.

The stepper is anything with this shape (see `ui.training.EngineStepper` for the real one)::

    stepper.step() -> dict          one batch; a record such as {"loss": ..., "acc": ...}
    stepper.step_count -> int       batches done
    stepper.total_steps -> int      batches in the whole run
    stepper.epoch -> float          epochs done (fractional)
    stepper.done -> bool            all epochs done
    stepper.diverged -> str | None  why training diverged (NaN loss ...), else None
    stepper.lr -> float             current learning rate (settable: the user's base rate)
    stepper.history_copy()          a copy of the training history, safe to hand to the UI
    stepper.state_dict() -> dict    copies of the weights
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

ACTIVE = ("ready", "queued", "running", "paused")
"""Statuses of a job that still holds a thread (it can go on computing)."""

FINAL = ("finished", "stopped", "diverged")

RATE_WINDOW_S = 10.0
"""Steps per second are averaged over this many seconds of training."""


class LimitError(RuntimeError):
    """A per-session or server-wide limit refuses a new job; the message says which."""


# ----------------------------------------------------------------------------------------
class ComputeSlots:
    """At most `n` holders at once; waiters are served strictly first come, first served."""

    def __init__(self, n: int = 2):
        self.n = int(n)
        self._free = self.n
        self._queue: collections.deque = collections.deque()
        self._cond = threading.Condition()

    def acquire(self, token, abort=lambda: False, poll_s: float = 0.1) -> bool:
        """Wait for a slot; return False (without a slot) as soon as ``abort()`` is true."""
        with self._cond:
            if self._free > 0 and not self._queue:
                self._free -= 1
                return True
            self._queue.append(token)
            try:
                while not (self._free > 0 and self._queue[0] is token):
                    if abort():
                        return False
                    self._cond.wait(poll_s)
                self._queue.popleft()
                self._free -= 1
                return True
            finally:
                if token in self._queue:
                    self._queue.remove(token)
                self._cond.notify_all()

    def release(self) -> None:
        with self._cond:
            self._free = min(self.n, self._free + 1)
            self._cond.notify_all()

    def position(self, token) -> int | None:
        """1 for the next job to get a slot, 2 for the one after, ...; None if not waiting."""
        with self._cond:
            for i, t in enumerate(self._queue):
                if t is token:
                    return i + 1
            return None

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @property
    def busy(self) -> int:
        return self.n - self._free


# ----------------------------------------------------------------------------------------
@dataclass
class JobSnapshot:
    """What the UI may read about a job at one moment (copies only)."""

    run_id: str
    status: str
    step: int = 0
    total_steps: int = 0
    epoch: float = 0.0
    lr: float | None = None
    steps_per_s: float = 0.0
    eta_s: float | None = None
    queue_position: int | None = None
    stop_reason: str | None = None
    error: str | None = None
    last: dict = field(default_factory=dict)
    history: object = None
    version: int = 0
    elapsed_s: float = 0.0
    run_s: float = 0.0
    """Wall time spent training: from the first step to the last, without pauses or
    queueing (``step / run_s`` is the run's honest average speed)."""

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def progress(self) -> float:
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0


_job_ids = itertools.count()


class TrainingJob:
    """One training run in a background thread.

    Parameters
    ----------
    run_id : str
    make_stepper : callable () -> stepper
        Called inside the thread (building a model must not block the page).
    slots : ComputeSlots, optional
        Shared compute cap; None computes without asking.
    snapshot_steps : iterable of int
        Steps after which to keep a copy of the weights (0 = the initial weights).
    on_snapshot : callable (step, epoch, state_dict) -> None, optional
    on_checkpoint : callable (job, stepper, final: bool) -> None, optional
        Persist the run; called every `checkpoint_s` seconds, on pause and at the end.
    slice_s : float
        Give the compute slot back after this long when other jobs wait.
    """

    def __init__(
        self,
        run_id: str,
        make_stepper,
        *,
        slots: ComputeSlots | None = None,
        snapshot_steps=(),
        on_snapshot=None,
        on_checkpoint=None,
        checkpoint_s: float = 15.0,
        slice_s: float = 1.0,
        yield_s: float = 0.0,
    ):
        self.run_id = run_id
        self.uid = next(_job_ids)
        self._make_stepper = make_stepper
        self._slots = slots
        self._snapshot_steps = sorted({int(s) for s in snapshot_steps})
        self._on_snapshot = on_snapshot
        self._on_checkpoint = on_checkpoint
        self._checkpoint_s = checkpoint_s
        self._slice_s = slice_s
        self._yield_s = yield_s

        self._lock = threading.Condition()
        self._compute = threading.Lock()  # held while the weights change (one batch)
        self._thread: threading.Thread | None = None
        self._stepper = None
        self._status = "ready"
        self._paused = False
        self._step_budget = 0  # "Step one batch" clicks not yet done
        self._stop_requested = False
        self._stop_reason: str | None = None
        self._error: str | None = None
        self._pending_lr: float | None = None
        self._lr: float | None = None
        self._step = 0
        self._total = 0
        self._epoch = 0.0
        self._last: dict = {}
        self._version = 0
        # (time, step) after each step of the last RATE_WINDOW_S seconds of computing: the
        # speed shown includes the epoch ends (validation) and saves, as the time left must.
        self._rate = collections.deque(maxlen=4096)
        self._elapsed = 0.0
        self._run_s = 0.0
        self._history_cache = (-1, None)
        self._snapshots: list[tuple[int, float, dict]] = []
        self._final: tuple[str, str] | None = None  # (status, reason) being saved

    # -- controls (called from page scripts; cheap, never block on the computation) -------
    def start(self, paused: bool = False) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._paused = paused
            self._thread = threading.Thread(
                target=self._run, name=f"netcore-job-{self.run_id}", daemon=True
            )
            self._thread.start()

    def pause(self) -> None:
        with self._lock:
            if self._status in ACTIVE:
                self._paused = True
                self._lock.notify_all()

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            self._lock.notify_all()
        if self._thread is None:
            self.start()

    def step_once(self, n: int = 1) -> None:
        """Train `n` more batches, then pause (starts a paused job if needed)."""
        with self._lock:
            if self._status in FINAL:
                return
            self._paused = True
            self._step_budget += int(n)
            self._lock.notify_all()
        if self._thread is None:
            self.start(paused=True)

    def stop(self, reason: str = "Stopped by you.") -> None:
        with self._lock:
            if self._status in FINAL:
                return
            self._stop_requested = True
            self._stop_reason = self._stop_reason or reason
            self._lock.notify_all()
        if self._thread is None:
            with self._lock:
                self._status = "stopped"
                self._version += 1

    def set_lr(self, lr: float) -> None:
        """Change the (base) learning rate; takes effect before the next batch."""
        with self._lock:
            self._pending_lr = float(lr)

    def join(self, timeout: float | None = None) -> bool:
        t = self._thread
        if t is not None:
            t.join(timeout)
            return not t.is_alive()
        return True

    # -- reading -----------------------------------------------------------------------
    @property
    def status(self) -> str:
        return self._status

    @property
    def active(self) -> bool:
        return self._status in ACTIVE

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def final_status(self) -> tuple[str, str] | None:
        """(status, reason) once the thread has decided how the run ends, else None."""
        with self._lock:
            if self._final is not None:
                return self._final
            if self._status in FINAL:
                return self._status, self._stop_reason or ""
            return None

    def snapshot(self, with_history: bool = True) -> JobSnapshot:
        """A consistent copy of the job's state for the UI (cheap: history copied per step)."""
        with self._lock:
            snap = JobSnapshot(
                run_id=self.run_id,
                status=self._status,
                step=self._step,
                total_steps=self._total,
                epoch=self._epoch,
                lr=self._lr,
                stop_reason=self._stop_reason if self._status in FINAL else None,
                error=self._error,
                last=dict(self._last),
                version=self._version,
                elapsed_s=self._elapsed,
                run_s=self._run_s,
            )
            snap.steps_per_s = self._steps_per_s()
            if snap.steps_per_s > 0 and self._total:
                snap.eta_s = (self._total - self._step) / snap.steps_per_s
        if with_history:
            snap.history = self._history()
        if self._slots is not None and snap.status == "queued":
            snap.queue_position = self._slots.position(self)
        return snap

    def _history(self):
        """The stepper's history copied at most once per step (copied outside the lock:
        the engine's History.snapshot is safe while the training thread appends)."""
        stepper = self._stepper
        if stepper is None:
            return None
        step = self._step
        cached_step, cached = self._history_cache
        if cached_step == step and cached is not None:
            return cached
        history = stepper.history_copy()
        self._history_cache = (step, history)
        return history

    def snapshots(self) -> list[tuple[int, float, dict]]:
        """Weight snapshots taken so far: [(step, epoch, state_dict)], oldest first."""
        with self._lock:
            return list(self._snapshots)

    def state_dict(self) -> dict | None:
        """A copy of the current weights, taken between two batches (waits at most one)."""
        if self._stepper is None:
            return None
        with self._compute:
            return self._stepper.state_dict()

    # -- the thread --------------------------------------------------------------------
    def _steps_per_s(self) -> float:
        if len(self._rate) < 2:
            return 0.0
        (t0, s0), (t1, s1) = self._rate[0], self._rate[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0

    def _set(self, **kw) -> None:
        with self._lock:
            for k, v in kw.items():
                setattr(self, "_" + k, v)
            self._version += 1

    def _run(self) -> None:
        holding = False
        try:
            self._set(status="queued" if self._slots and self._slots.waiting else "ready")
            stepper = self._make_stepper()
            with self._lock:
                self._stepper = stepper
                self._total = int(stepper.total_steps)
                self._lr = float(stepper.lr)
            self._take_snapshot_if_due(stepper)
            last_ckpt = time.monotonic()
            slice_start = 0.0
            t_prev = None  # end of the previous step, None after a pause or a queue wait
            while True:
                with self._lock:
                    while self._paused and self._step_budget == 0 and not self._stop_requested:
                        t_prev = None
                        if self._status != "paused":
                            self._status = "paused"
                            self._version += 1
                            self._rate.clear()
                        if holding:
                            break
                        self._lock.wait()
                    if self._stop_requested:
                        break
                    must_release = holding and self._paused and self._step_budget == 0
                    if self._pending_lr is not None:
                        stepper.lr = self._pending_lr
                        self._lr = float(stepper.lr)
                        self._pending_lr = None
                if must_release:
                    self._slots.release()
                    holding = False
                    if self._on_checkpoint:
                        self._on_checkpoint(self, stepper, False)
                    continue
                if self._slots is not None and not holding:
                    if not self._paused:
                        self._set(status="queued")
                    if not self._slots.acquire(self, abort=lambda: self._stop_requested):
                        break
                    holding = True
                    slice_start = time.monotonic()
                    with self._lock:
                        self._status = "paused" if self._paused else "running"
                        self._version += 1
                t0 = time.monotonic()
                with self._compute:
                    record = stepper.step()
                t1 = time.monotonic()
                # Between two steps the thread saves, yields to the web server ...: that is
                # part of the run's time; waiting for a slot or a resume is not.
                self._run_s += t1 - (t0 if t_prev is None else t_prev)
                t_prev = t1
                with self._lock:
                    self._step = stepper.step_count
                    self._epoch = float(stepper.epoch)
                    self._lr = float(stepper.lr)
                    self._last = dict(record or {})
                    self._elapsed += t1 - t0
                    self._rate.append((t1, self._step))
                    while t1 - self._rate[0][0] > RATE_WINDOW_S:
                        self._rate.popleft()
                    if self._step_budget > 0:
                        self._step_budget -= 1
                    if self._status not in ("running", "paused") or (
                        self._status == "paused" and not self._paused
                    ):
                        self._status = "paused" if self._paused else "running"
                    self._version += 1
                self._take_snapshot_if_due(stepper)
                reason = stepper.diverged
                if reason:
                    self._finish("diverged", reason, stepper)
                    return
                if stepper.done:
                    self._finish("finished", "Finished all epochs.", stepper)
                    return
                now = time.monotonic()
                if self._on_checkpoint and now - last_ckpt > self._checkpoint_s:
                    self._on_checkpoint(self, stepper, False)
                    last_ckpt = time.monotonic()
                if holding and now - slice_start > self._slice_s and self._slots.waiting:
                    # Let a queued job have a turn, and queue again behind it.
                    self._set(status="queued")
                    self._slots.release()
                    holding = False
                    t_prev = None
                    with self._lock:
                        self._rate.clear()  # the wait in the queue is no training speed
                # Let the web server's threads run between batches.
                time.sleep(self._yield_s)
            self._finish("stopped", self._stop_reason or "Stopped.", stepper)
        except Exception as e:  # the thread must never die silently
            self._error = "".join(traceback.format_exception_only(type(e), e)).strip()
            self._finish("stopped", f"Training failed: {e}", self._stepper)
        finally:
            if holding:
                self._slots.release()

    def _take_snapshot_if_due(self, stepper) -> None:
        step = stepper.step_count
        if step not in self._snapshot_steps and not (stepper.done and self._snapshot_steps):
            return
        with self._lock:
            if self._snapshots and self._snapshots[-1][0] == step:
                return
        state = stepper.state_dict()
        item = (step, float(stepper.epoch), state)
        with self._lock:
            self._snapshots.append(item)
        if self._on_snapshot:
            self._on_snapshot(*item)

    def _finish(self, status: str, reason: str, stepper) -> None:
        """Save the run, then announce the final status (readers of the store see it saved)."""
        with self._lock:
            self._final = (status, reason)
        if stepper is not None and self._on_checkpoint:
            try:
                self._on_checkpoint(self, stepper, True)
            except Exception as e:
                with self._lock:
                    self._error = f"could not save the run: {e}"
        with self._lock:
            self._status = status
            self._stop_reason = reason
            self._rate.clear()
            self._version += 1


def snapshot_plan(total_steps: int, n: int = 20) -> list[int]:
    """About `n` steps to keep weights at: 0, then log-spaced (training changes fastest early)."""
    total = int(total_steps)
    if total <= 0:
        return [0]
    if total <= n:
        return list(range(total + 1))
    steps = np.unique(np.round(np.geomspace(1, total, n - 1)).astype(np.int64))
    return [0, *(int(s) for s in steps)]


# ----------------------------------------------------------------------------------------
class JobRegistry:
    """Process-wide table of live jobs by run id, and which browser sessions watch them.

    A reload or a second tab is a new session: it finds the job here by the run id in the
    URL and attaches to it. When the last session watching an active job goes away, the job
    is stopped after `grace_s` seconds (enough for a reload to re-attach first).
    """

    def __init__(self, slots: ComputeSlots, *, max_live: int = 40, grace_s: float = 30.0):
        self.slots = slots
        self.max_live = max_live
        self.grace_s = grace_s
        self._jobs: dict[str, TrainingJob] = {}
        self._owners: dict[str, set] = {}
        self._lock = threading.RLock()

    def get(self, run_id: str | None) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(run_id) if run_id else None

    def jobs(self) -> list[TrainingJob]:
        with self._lock:
            return list(self._jobs.values())

    def live_ids(self) -> set[str]:
        with self._lock:
            return {rid for rid, j in self._jobs.items() if j.active}

    def active_for(self, session: str) -> list[TrainingJob]:
        with self._lock:
            return [
                j
                for rid, j in self._jobs.items()
                if session in self._owners.get(rid, ()) and j.active
            ]

    def add(self, job: TrainingJob, session: str) -> None:
        """Register a new job for `session`; raise `LimitError` if a limit forbids it."""
        with self._lock:
            self.prune()
            if self.active_for(session):
                raise LimitError(
                    "You already have a run training. Stop or finish it before starting another."
                )
            live = sum(1 for j in self._jobs.values() if j.active)
            if live >= self.max_live:
                raise LimitError(
                    f"The server is busy: {live} runs are training. Try again in a minute."
                )
            self._jobs[job.run_id] = job
            self._owners[job.run_id] = {session}

    def attach(self, run_id: str, session: str) -> TrainingJob | None:
        with self._lock:
            job = self._jobs.get(run_id)
            if job is not None:
                self._owners.setdefault(run_id, set()).add(session)
            return job

    def detach(self, run_id: str, session: str) -> None:
        """`session` no longer shows `run_id` (it moved to another run)."""
        with self._lock:
            owners = self._owners.get(run_id)
            if owners is not None:
                owners.discard(session)
            self._orphan_check(run_id)

    def release_session(self, session: str) -> None:
        """The browser session ended: detach it from everything (called by Streamlit)."""
        with self._lock:
            for run_id in [r for r, o in self._owners.items() if session in o]:
                self._owners[run_id].discard(session)
                self._orphan_check(run_id)

    def _orphan_check(self, run_id: str) -> None:
        job = self._jobs.get(run_id)
        if job is None or self._owners.get(run_id):
            return
        if not job.active:
            self._drop(run_id)
            return
        timer = threading.Timer(self.grace_s, self._stop_if_orphaned, args=(run_id, job.uid))
        timer.daemon = True
        timer.start()

    def _stop_if_orphaned(self, run_id: str, uid: int) -> None:
        with self._lock:
            job = self._jobs.get(run_id)
            if job is None or job.uid != uid or self._owners.get(run_id):
                return
            job.stop("Stopped because no browser tab showed this run any more.")
        job.join(10)
        with self._lock:
            if not self._owners.get(run_id) and self._jobs.get(run_id) is job:
                self._drop(run_id)

    def _drop(self, run_id: str) -> None:
        self._jobs.pop(run_id, None)
        self._owners.pop(run_id, None)

    def prune(self) -> None:
        """Forget finished jobs nobody watches (their run is in the store)."""
        with self._lock:
            for run_id in list(self._jobs):
                if not self._jobs[run_id].active and not self._owners.get(run_id):
                    self._drop(run_id)

    def stop_all(self, timeout: float = 10.0) -> None:
        for job in self.jobs():
            job.stop("The server is shutting down.")
        for job in self.jobs():
            job.join(timeout)
