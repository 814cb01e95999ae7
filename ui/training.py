"""From a `RunConfig` to a running `TrainingJob`: model, optimizer, data, run store hooks.

No Streamlit here (the job's thread calls into this module).

    job = make_job(config, store, slots=slots)   # not started yet
    job.start()

`EngineStepper` adapts the engine's trainer to the small stepper protocol of `ui.jobs`.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ui.config import RunConfig
from ui.jobs import TrainingJob, snapshot_plan
from ui.runstore import RunStore, new_run_id

OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD", "rmsprop": "RMSprop"}


# -- building ------------------------------------------------------------------------------
def build_from_config(config: RunConfig, rng: np.random.Generator | None = None):
    """The untrained network of `config` (raises ValueError naming a bad layer)."""
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
class History:
    """Training curves: per step (loss, accuracy, learning rate) and per epoch (validation).

    Attributes
    ----------
    step, loss, acc, lr : list
        One entry per batch.
    epoch, epoch_step, val_loss, val_acc, train_loss, train_acc : list
        One entry per finished epoch (``epoch_step`` = the step at its end).
    stats : list of dict
        Training statistics every few steps (weight and gradient norms, histograms).
    """

    STEP_KEYS = ("step", "loss", "acc", "lr")
    EPOCH_KEYS = ("epoch", "epoch_step", "val_loss", "val_acc", "train_loss", "train_acc")

    def __init__(self):
        for k in self.STEP_KEYS + self.EPOCH_KEYS:
            setattr(self, k, [])
        self.stats: list[dict] = []

    def copy(self) -> History:
        h = History()
        for k in self.STEP_KEYS + self.EPOCH_KEYS:
            setattr(h, k, list(getattr(self, k)))
        h.stats = list(self.stats)
        return h

    def to_dict(self) -> dict:
        d = {k: list(getattr(self, k)) for k in self.STEP_KEYS + self.EPOCH_KEYS}
        d["stats"] = list(self.stats)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> History:
        h = cls()
        for k in cls.STEP_KEYS + cls.EPOCH_KEYS:
            vals = d.get(k, [])
            setattr(h, k, [float("nan") if v is None else v for v in vals])
        h.stats = list(d.get("stats", []))
        return h

    def __len__(self) -> int:
        return len(self.step)


def history_to_dict(history) -> dict:
    return history.to_dict() if hasattr(history, "to_dict") else dict(history)


def history_from_dict(d: dict):
    return History.from_dict(d)


# -- stepping ------------------------------------------------------------------------------
def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == labels)) if len(labels) else float("nan")


class EngineStepper:
    """One batch at a time over a dataset, per the `ui.jobs` stepper protocol."""

    def __init__(
        self,
        config: RunConfig,
        dataset,
        *,
        initial_state: dict | None = None,
        eval_batch: int = 500,
    ):
        from netcore.losses import CrossEntropyLoss

        self.config = config
        self.rng = np.random.default_rng(config.seed)
        self.model = build_from_config(config, self.rng)
        if initial_state is not None:
            self.model.load_state_dict(initial_state)
        self.model.train()
        self.optimizer = make_optimizer(config, self.model.parameters())
        self.loss_fn = CrossEntropyLoss()
        self.X, self.y = dataset.X_train, dataset.y_train
        self.X_val, self.y_val = dataset.X_test, dataset.y_test
        self.augment = dataset.augment if config.augment else None
        n = len(self.y)
        self.batch_size = min(int(config.batch_size), n)
        self.steps_per_epoch = math.ceil(n / self.batch_size)
        self.total_steps = self.steps_per_epoch * int(config.epochs)
        self.schedule = make_schedule(config, self.total_steps)
        self.base_lr = float(config.lr)
        self.optimizer.lr = self.schedule.lr_at(0, self.base_lr)
        self.eval_batch = eval_batch
        self.history = History()
        self.step_count = 0
        self.diverged: str | None = None
        self._order = self.rng.permutation(n)
        self._epoch_losses: list[float] = []
        self._epoch_accs: list[float] = []

    # The user sets the base rate; the schedule scales it.
    @property
    def lr(self) -> float:
        return float(self.optimizer.lr)

    @lr.setter
    def lr(self, value: float) -> None:
        self.base_lr = float(value)
        self.optimizer.lr = self.schedule.lr_at(self.step_count, self.base_lr)

    @property
    def epoch(self) -> float:
        return self.step_count / self.steps_per_epoch

    @property
    def done(self) -> bool:
        return self.step_count >= self.total_steps

    def step(self) -> dict:
        i = self.step_count % self.steps_per_epoch
        if i == 0 and self.step_count > 0:
            self._order = self.rng.permutation(len(self.y))
        idx = self._order[i * self.batch_size : (i + 1) * self.batch_size]
        xb, yb = self.X[idx], self.y[idx]
        if self.augment is not None:
            xb = self.augment(xb, self.rng)
        self.optimizer.lr = self.schedule.lr_at(self.step_count, self.base_lr)
        logits = self.model.forward(xb)
        loss = float(self.loss_fn.forward(logits, yb))
        acc = _accuracy(logits, yb)
        if not math.isfinite(loss):
            self.diverged = (
                f"The loss became {loss} at step {self.step_count + 1}: the weights blew up. "
                f"Lower the learning rate (it was {self.optimizer.lr:g}; try "
                f"{self.optimizer.lr / 10:g}) and start again."
            )
        else:
            self.model.backward(self.loss_fn.backward())
            self.optimizer.step()
        self.step_count += 1
        h = self.history
        h.step.append(self.step_count)
        h.loss.append(loss)
        h.acc.append(acc)
        h.lr.append(float(self.optimizer.lr))
        self._epoch_losses.append(loss)
        self._epoch_accs.append(acc)
        record = {"loss": loss, "acc": acc, "lr": float(self.optimizer.lr)}
        if self.step_count % self.steps_per_epoch == 0 and not self.diverged:
            val_loss, val_acc = self.evaluate()
            h.epoch.append(self.step_count // self.steps_per_epoch)
            h.epoch_step.append(self.step_count)
            h.val_loss.append(val_loss)
            h.val_acc.append(val_acc)
            h.train_loss.append(float(np.mean(self._epoch_losses)))
            h.train_acc.append(float(np.mean(self._epoch_accs)))
            self._epoch_losses, self._epoch_accs = [], []
            record.update(val_loss=val_loss, val_acc=val_acc)
            if not math.isfinite(val_loss):
                self.diverged = (
                    "The validation loss is not a number: the weights blew up. "
                    "Lower the learning rate and start again."
                )
        return record

    def evaluate(self) -> tuple[float, float]:
        """Mean loss and accuracy on the validation (test) split, in eval mode."""
        from netcore.losses import CrossEntropyLoss

        loss_fn = CrossEntropyLoss()
        self.model.eval()
        total_loss, correct, n = 0.0, 0, len(self.y_val)
        try:
            for a in range(0, n, self.eval_batch):
                xb, yb = self.X_val[a : a + self.eval_batch], self.y_val[a : a + self.eval_batch]
                logits = self.model.forward(xb)
                total_loss += float(loss_fn.forward(logits, yb)) * len(yb)
                correct += int(np.sum(np.argmax(logits, axis=1) == yb))
        finally:
            self.model.train()
        return (total_loss / n, correct / n) if n else (float("nan"), float("nan"))

    def history_copy(self):
        return self.history.copy()

    def state_dict(self) -> dict:
        return self.model.state_dict()


# -- saving --------------------------------------------------------------------------------
def save_model_file(path, model, config: RunConfig) -> None:
    """Weights + architecture (+ our config) to one .npz, via netcore's saver when present."""
    try:
        from netcore.serialize import save_model
    except ImportError:
        save_model = None
    if save_model is not None:
        try:
            save_model(
                path,
                model,
                input_shape=tuple(config.input_shape),
                metadata={"run_config": config.to_dict()},
            )
            return
        except TypeError:
            save_model(path, model)
            return
    import json

    arrays = {f"param/{k}": v for k, v in model.state_dict().items()}
    arrays["config_json"] = np.asarray(json.dumps(config.to_dict()))
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def load_model_file(path):
    """(model, info) from a saved .npz (no pickle); raises ValueError with a clear message."""
    try:
        from netcore.serialize import load_model
    except ImportError:
        load_model = None
    if load_model is not None:
        out = load_model(path)
        if isinstance(out, tuple):
            return out[0], (out[1] if len(out) > 1 else {})
        return out, {}
    import json

    with np.load(path, allow_pickle=False) as z:
        cfg = RunConfig.from_dict(json.loads(str(z["config_json"])))
        state = {k[len("param/") :]: z[k] for k in z.files if k.startswith("param/")}
    model = build_from_config(cfg)
    model.load_state_dict(state)
    return model, {"run_config": cfg.to_dict()}


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
        hist = stepper.history_copy()
        metrics = {}
        if getattr(hist, "val_acc", None):
            metrics["val_acc"] = hist.val_acc[-1]
            metrics["val_loss"] = hist.val_loss[-1]
        if getattr(hist, "loss", None):
            tail = [v for v in hist.loss[-50:] if v == v]
            if tail:
                metrics["train_loss"] = float(np.mean(tail))
        store.write_history(run_id, history_to_dict(hist))
        store.write_model_file(run_id, lambda p: save_model_file(p, stepper.model, config))
        store.write_meta(run_id, {
            "status": snap.status, "stop_reason": snap.stop_reason, "step": snap.step,
            "total_steps": snap.total_steps, "epoch": snap.epoch, "lr": snap.lr,
            "elapsed_s": snap.elapsed_s, "metrics": metrics, "saved": time.time(),
        })  # fmt: skip

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
