"""From a `RunConfig` to a running `TrainingJob`: model, optimizer, data, run store hooks.

No Streamlit here (the job's thread calls into this module).

    job = make_job(config, store, slots=slots)   # not started yet
    job.start()

`EngineStepper` adapts the engine's trainer to the small stepper protocol of `ui.jobs`.
"""

from __future__ import annotations

import collections
import math
import statistics
import time

import numpy as np

from ui.config import RunConfig
from ui.jobs import TrainingJob, snapshot_plan
from ui.runstore import RunStore, new_run_id

OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop"}


# -- building ------------------------------------------------------------------------------
def build_from_config(config: RunConfig, rng: np.random.Generator | None = None):
    """The untrained network of `config` (raises ValueError naming a bad layer)."""
    import netcore  # noqa: F401  (registers every layer type)
    from netcore.spec import build_model

    rng = rng if rng is not None else np.random.default_rng(config.seed)
    return build_model(list(config.arch), tuple(config.input_shape), rng=rng)


def check_config(config: RunConfig, limits=None) -> list[str]:
    """Problems that stop `config` from training (config fields, architecture, size)."""
    from ui.config import Limits

    limits = limits or Limits.from_env()
    problems = config.problems(limits)
    if problems:
        return problems
    try:
        model = build_from_config(config)
    except ValueError as e:
        return [str(e)]
    n = model.num_parameters()
    if n > limits.max_params:
        problems.append(
            f"the network has {n:,} parameters; this server allows at most "
            f"{limits.max_params:,} per run. Use fewer filters or units."
        )
    return problems


def make_optimizer(config: RunConfig, params):
    from netcore import optim

    name = OPTIMIZER_NAMES[config.optimizer]
    kwargs = {"lr": config.lr, "weight_decay": config.weight_decay}
    if name == "SGD":
        kwargs["momentum"] = config.momentum
    return optim.make_optimizer(name, params, **kwargs)


def make_schedule(config: RunConfig, total_steps: int):
    from netcore import schedules

    total = max(1, int(total_steps))
    if config.schedule == "step":
        return schedules.StepLR(step_size=max(1, total // 3), gamma=0.1)
    if config.schedule == "cosine":
        return schedules.CosineLR(total_steps=total)
    if config.schedule == "warmup_cosine":
        return schedules.CosineLR(total_steps=total, warmup_steps=max(1, total // 20))
    return schedules.ConstantLR()


# -- history -------------------------------------------------------------------------------
def history_to_dict(history) -> dict:
    return history.to_dict()


def history_from_dict(d: dict):
    """A netcore History from its `to_dict` form (ValueError when it is not one)."""
    from netcore.train import History

    return History.from_dict(d)


def final_metrics(history) -> dict:
    """Last validation metrics and a recent mean training loss, for run lists."""
    metrics = {}
    if history.epochs:
        last = history.epochs[-1]
        for key in ("val_loss", "val_accuracy", "train_loss", "train_accuracy"):
            if last.get(key) is not None:
                metrics[key] = float(last[key])
        metrics["epochs"] = int(last["epoch"])
    if len(history):
        tail = history.array("loss")[-50:]
        tail = tail[np.isfinite(tail)]
        if tail.size:
            metrics["recent_loss"] = float(tail.mean())
        metrics["steps"] = len(history)
    return metrics


# -- stepping ------------------------------------------------------------------------------
EXPLODE_STEPS = 5
"""Consecutive batches with an exploded loss before a run is declared diverged."""


def stats_interval(total_steps: int) -> int:
    """Record training statistics about 300 times per run (at least every 5 steps)."""
    return max(5, int(total_steps) // 300)


STATS_BUDGET = 0.04
"""Share of the training time the statistics may take. A record (norms, two histograms and
a copy per weight tensor) costs about as much as a whole step of a small MLP, so cheap
models record less often than `stats_interval` says; LeNet-5 barely notices them."""


class _StatsPacer:
    """Widens the monitor's interval until recording costs at most `STATS_BUDGET`.

    It times the steps that record and the ones that do not (epoch ends, with their
    validation pass, are left out) and sets ``monitor.every`` to
    ``extra cost of a record / (budget * plain step)``; the interval only grows, and never
    past ``total_steps / 30`` (the Weights page wants a curve, not three points).
    """

    def __init__(self, monitor, total_steps: int, budget: float = STATS_BUDGET):
        self.monitor = monitor
        self.budget = budget
        self.max_every = max(monitor.every, int(total_steps) // 30)
        self.plain: collections.deque = collections.deque(maxlen=32)
        self.record: collections.deque = collections.deque(maxlen=8)

    def observe(self, seconds: float, recorded: bool) -> None:
        (self.record if recorded else self.plain).append(seconds)
        if len(self.record) < 3 or len(self.plain) < 8 or not recorded:
            return
        plain = statistics.median(self.plain)
        extra = statistics.median(self.record) - plain
        if plain > 0 and extra > 0:
            need = min(math.ceil(extra / (self.budget * plain)), self.max_every)
            if need > self.monitor.every:
                self.monitor.every = need


class EngineStepper:
    """`netcore.train.Trainer` behind the small stepper protocol of `ui.jobs`.

    The validation set is the dataset's test split (evaluated after every epoch).
    """

    def __init__(self, config: RunConfig, dataset, *, initial_state: dict | None = None):
        from netcore.losses import CrossEntropyLoss
        from netcore.train import Trainer

        self.config = config
        rng = np.random.default_rng(config.seed)
        self.model = build_from_config(config, rng)
        if initial_state is not None:
            self.model.load_state_dict(initial_state)
        self.model.train()
        optimizer = make_optimizer(config, self.model.parameters())
        n = len(dataset.y_train)
        steps_per_epoch = math.ceil(n / min(int(config.batch_size), n))
        total = steps_per_epoch * int(config.epochs)
        self.trainer = Trainer(
            self.model,
            CrossEntropyLoss(),
            optimizer,
            dataset.X_train,
            dataset.y_train,
            X_val=dataset.X_test,
            y_val=dataset.y_test,
            batch_size=int(config.batch_size),
            epochs=int(config.epochs),
            schedule=make_schedule(config, total),
            rng=rng,
            augment=dataset.augment if config.augment else None,
            stats_every=stats_interval(total),
        )
        self.total_steps = self.trainer.total_steps
        # A loss far above chance level for several batches in a row means the weights
        # blew up even if no NaN appeared yet (the fused cross-entropy stays finite).
        self.explode_at = 100.0 * math.log(max(2, len(config.class_names)))
        self._explode_run = 0
        monitor = self.trainer.monitor
        self._pacer = _StatsPacer(monitor, total) if monitor is not None else None

    @property
    def step_count(self) -> int:
        return self.trainer.step_count

    @property
    def epoch(self) -> float:
        return self.trainer.step_count / self.trainer.steps_per_epoch

    @property
    def done(self) -> bool:
        return self.trainer.done

    @property
    def diverged(self) -> str | None:
        from netcore.train import FINISHED, STOPPED

        reason = self.trainer.stop_reason
        if not self.trainer.done or reason in (None, FINISHED, STOPPED):
            return None
        return reason[:1].upper() + reason[1:]

    @property
    def lr(self) -> float:
        return float(self.trainer.optimizer.lr)

    @lr.setter
    def lr(self, value: float) -> None:
        # The user sets the base rate; the schedule scales it from the next step on.
        self.trainer.base_lr = float(value)
        self.trainer.optimizer.lr = float(
            self.trainer.schedule.lr_at(self.trainer.step_count, self.trainer.base_lr)
        )

    def step(self) -> dict:
        pacer = self._pacer
        if pacer is None:
            event = self.trainer.step()
        else:
            records = pacer.monitor.complete
            t0 = time.perf_counter()
            event = self.trainer.step()
            if event is not None and event.epoch_metrics is None:
                pacer.observe(time.perf_counter() - t0, pacer.monitor.complete > records)
        if event is None:
            return {}
        if math.isfinite(event.loss) and event.loss > self.explode_at:
            self._explode_run += 1
            if self._explode_run >= EXPLODE_STEPS and not self.trainer.done:
                self.trainer.stop(
                    f"the loss exploded to {event.loss:.3g} (a network guessing at random "
                    f"scores {self.explode_at / 100:.2f}): training diverged. Lower the "
                    f"learning rate (it was {event.lr:g}) and train again."
                )
        else:
            self._explode_run = 0
        record = {"loss": event.loss, "acc": event.accuracy, "lr": event.lr}
        if event.epoch_metrics:
            record.update(event.epoch_metrics)
        return record

    def history_copy(self):
        """A consistent copy; safe to call from another thread while training goes on
        (the statistics are read from the monitor only when asked for)."""
        return self.trainer.history.snapshot()

    def state_dict(self) -> dict:
        return self.model.state_dict()


# -- saving ------------------------------------------------------------------------------
def model_meta(config: RunConfig) -> dict:
    """What a saved model file carries besides the weights: the whole run configuration."""
    return {
        "run_config": config.to_dict(),
        "dataset": config.dataset,
        "class_names": list(config.class_names),
    }


def save_model_file(path, model, config: RunConfig) -> None:
    """Weights + architecture + run config to one .npz (no pickle)."""
    from netcore.serialize import save_model

    save_model(path, model, tuple(config.input_shape), meta=model_meta(config))


def model_bytes(model, config: RunConfig) -> bytes:
    """The .npz file of `model` as bytes, for a download button."""
    from netcore.serialize import model_to_bytes

    return model_to_bytes(model, tuple(config.input_shape), meta=model_meta(config))


def load_model_file(file):
    """``(model, info)`` from a saved .npz path, file object or bytes (no pickle).

    ``info`` is netcore's (``input_shape``, ``spec``, ``meta``) plus ``config``: the saved
    RunConfig when the file carries one, else one rebuilt from the architecture. Raises
    ValueError with a message a person can act on.
    """
    from netcore.serialize import load_model

    model, info = load_model(file)
    meta = info.get("meta") or {}
    config = None
    if isinstance(meta.get("run_config"), dict):
        try:
            config = RunConfig.from_dict(meta["run_config"])
        except ValueError:
            config = None
    if config is None:
        n_out = model.output_shapes(tuple(info["input_shape"]))[-1]
        k = int(n_out[0]) if len(n_out) == 1 else 0
        names = meta.get("class_names") or [str(i) for i in range(k)]
        config = RunConfig(
            dataset=str(meta.get("dataset", "")),
            arch=list(info["spec"]),
            input_shape=tuple(info["input_shape"]),
            class_names=[str(c) for c in names],
        )
    info = dict(info, config=config)
    return model, info


def make_job(
    config: RunConfig,
    store: RunStore,
    *,
    dataset=None,
    slots=None,
    initial_state=None,
    run_id: str | None = None,
) -> TrainingJob:
    """A TrainingJob for `config` that saves into `store` (created, not started).

    `dataset` is the loaded netcore Dataset (shared, read-only); None loads it in the thread.
    """
    run_id = run_id or new_run_id()
    store.create(run_id, config.to_dict())

    def make_stepper():
        ds = dataset
        if ds is None:
            from netcore.datasets import load_dataset

            ds = load_dataset(config.dataset)
        return EngineStepper(config, ds, initial_state=initial_state)

    def on_snapshot(step, epoch, state):
        store.write_snapshot(run_id, step, epoch, state)

    def on_checkpoint(job, stepper, final):
        snap = job.snapshot(with_history=False)
        status, reason = job.final_status() or (snap.status, snap.stop_reason)
        hist = stepper.history_copy()
        metrics = final_metrics(hist)
        store.write_history(run_id, history_to_dict(hist))
        store.write_model_file(run_id, lambda p: save_model_file(p, stepper.model, config))
        store.write_meta(
            run_id,
            {
                "status": status,
                "stop_reason": reason,
                "step": snap.step,
                "total_steps": snap.total_steps,
                "epoch": snap.epoch,
                "lr": snap.lr,
                "elapsed_s": snap.elapsed_s,
                "run_s": snap.run_s,
                "metrics": metrics,
                "saved": time.time(),
            },
        )

    n_train = len(dataset.y_train) if dataset is not None else None
    if n_train is None:
        try:
            from netcore.datasets import dataset_info

            n_train = dataset_info(config.dataset).n_train
        except Exception:
            n_train = None
    plan = [0]
    if n_train:
        bs = min(int(config.batch_size), n_train)
        plan = snapshot_plan(math.ceil(n_train / bs) * int(config.epochs))
    job = TrainingJob(
        run_id,
        make_stepper,
        slots=slots,
        snapshot_steps=plan,
        on_snapshot=on_snapshot,
        on_checkpoint=on_checkpoint,
    )
    job.config = config
    return job
