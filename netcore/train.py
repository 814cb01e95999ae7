"""The training loop, one mini-batch at a time, so that a user interface can drive it.

`Trainer.step()` does one optimizer step: take the next mini-batch of a shuffled epoch,
forward, loss, backward, update. Nothing happens between calls, so pausing is simply not
calling `step()`; calling it later continues exactly where it stopped. `fit` runs a Trainer
to the end. Neither ever prints.

Numbering: steps count from 1 (step n is the n-th weight update) and so do epochs in the
`History` (epoch 1 is the first pass over the data).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from netcore.history import History
from netcore.model import Sequential
from netcore.monitor import Monitor
from netcore.optim import Optimizer
from netcore.schedules import ConstantLR, Schedule

FINISHED = "finished"
STOPPED = "stopped by user"
ROLLBACK_EVERY = 10
"""Steps between two copies of the weights kept for a rollback after divergence."""


@dataclass
class StepEvent:
    """What one `Trainer.step()` did.

    ``step`` and ``epoch`` are 1-based; ``accuracy`` is None when the labels are not class
    indices; ``epoch_metrics`` is the new `History.epochs` entry when this step finished an
    epoch (else None); ``time`` is the training time so far in seconds (pauses excluded).
    """

    step: int
    epoch: int
    loss: float
    accuracy: float | None
    lr: float
    time: float
    epoch_metrics: dict | None = None
    done: bool = False
    stop_reason: str | None = None


class Trainer:
    """Mini-batch training, one `step()` at a time.

    Parameters
    ----------
    model : Sequential
    loss_fn : object with ``forward(outputs, targets) -> float`` and ``backward() -> doutputs``
        (e.g. ``CrossEntropyLoss()``).
    optimizer : Optimizer over ``model.parameters()``; its ``lr`` at construction is the base
        learning rate (change it later with ``trainer.base_lr = ...``).
    X, y : (N, ...) inputs (float32) and (N,) targets (int64 class indices for a classifier).
    X_val, y_val : optional validation set, evaluated in eval mode after every epoch.
    batch_size : int; the last batch of an epoch is smaller when N is not a multiple.
    epochs : int, passes over the data (more can be added with `add_epochs`).
    schedule : Schedule or None (constant), applied before every step.
    rng : np.random.Generator for the shuffling (and given to `augment`).
    augment : callable ``(xb, rng) -> xb`` applied to each training batch, or None.
    stats_every : int; when > 0 record weight/gradient statistics every that many steps
        into ``history.stats`` (see `netcore.monitor`).
    eval_batch_size : int, batch size of the validation passes.

    Divergence: a NaN or infinite loss stops the run with an explanation in `stop_reason`
    (and `diverged`); that loss is not added to the history, and the weights (and
    BatchNorm statistics) go back to a copy that gave a finite loss, taken at most
    `ROLLBACK_EVERY` steps earlier.
    """

    def __init__(
        self,
        model: Sequential,
        loss_fn,
        optimizer: Optimizer,
        X,
        y,
        *,
        X_val=None,
        y_val=None,
        batch_size: int = 64,
        epochs: int = 1,
        schedule: Schedule | None = None,
        rng: np.random.Generator,
        augment: Callable | None = None,
        stats_every: int = 0,
        eval_batch_size: int = 500,
    ):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.X, self.y = _check_data(X, y, "training")
        self.X_val, self.y_val = (
            (None, None) if X_val is None else _check_data(X_val, y_val, "validation")
        )
        if not (isinstance(batch_size, int | np.integer) and batch_size >= 1):
            raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
        if not (isinstance(epochs, int | np.integer) and epochs >= 1):
            raise ValueError(f"epochs must be a whole number >= 1, got {epochs!r}")
        if not isinstance(rng, np.random.Generator):
            raise TypeError("rng must be a np.random.Generator, e.g. np.random.default_rng(0)")
        self.batch_size = int(min(batch_size, len(self.X)))
        self.epochs = int(epochs)
        self.schedule = schedule or ConstantLR()
        self.base_lr = float(optimizer.lr)
        self.rng, self.augment = rng, augment
        self.eval_batch_size = int(eval_batch_size)
        self.classify = self.y.dtype.kind in "iu"
        self._check_fits_model()
        model.train()  # a loaded model comes in eval mode; Dropout/BatchNorm must train

        self.history = History()
        self.monitor = Monitor(model, stats_every) if stats_every else None
        self.history._monitor = self.monitor
        self.step_count = 0  # finished steps
        self.epoch = 0  # finished epochs
        self.done = False
        self.stop_reason: str | None = None
        self.diverged: str | None = None  # the explanation when the loss blew up
        self.elapsed = 0.0
        self._order = None  # this epoch's shuffled sample order
        self._pos = 0  # next position in _order
        self._epoch_sums = [0.0, 0, 0]  # loss * n, correct, n
        self._params = model.parameters()
        # Weights to go back to if the loss blows up, refreshed every ROLLBACK_EVERY steps
        # (a copy every step would cost ~5% of a small MLP's step).
        self._last_good = [p.data.copy() for p in self._params]
        self._buffers_good = [(b, b.copy()) for _, b in model.named_buffers()]
        self._good_step = 0  # the step after which _last_good was taken

    def _check_fits_model(self) -> None:
        """Explain, before any training, data that does not fit the network."""
        try:
            out = self.model.output_shapes(self.X.shape[1:])[-1]
        except ValueError as err:
            raise ValueError(f"the data (samples of shape {self.X.shape[1:]}) does not fit "
                             f"the network: {err}") from None  # fmt: skip
        if self.X_val is not None and self.X_val.shape[1:] != self.X.shape[1:]:
            raise ValueError(
                f"validation samples have shape {self.X_val.shape[1:]} but training samples "
                f"{self.X.shape[1:]}; both must come from the same dataset"
            )
        if self.classify and len(out) == 1:
            for name, y in (("training", self.y), ("validation", self.y_val)):
                if y is not None and len(y) and (y.min() < 0 or y.max() >= out[0]):
                    raise ValueError(
                        f"the {name} labels go from {y.min()} to {y.max()} but the network "
                        f"has {out[0]} outputs (classes 0 to {out[0] - 1}); set the last "
                        "layer's out_features to the number of classes"
                    )

    # -- sizes -------------------------------------------------------------------------
    @property
    def steps_per_epoch(self) -> int:
        return -(-len(self.X) // self.batch_size)  # ceil: the last batch may be smaller

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs

    @property
    def progress(self) -> float:
        """Fraction of the planned steps done, in [0, 1]."""
        return min(1.0, self.step_count / self.total_steps)

    # -- control -----------------------------------------------------------------------
    def stop(self, reason: str = STOPPED) -> None:
        """End the run (the model keeps its current weights)."""
        if not self.done:
            self.done, self.stop_reason = True, reason

    def add_epochs(self, n: int) -> None:
        """Plan `n` more epochs; a finished or stopped run continues where it ended."""
        if n < 1:
            raise ValueError(f"add at least one epoch, got {n}")
        self.epochs += int(n)
        self.done, self.stop_reason, self.diverged = False, None, None

    # -- one step ----------------------------------------------------------------------
    def step(self) -> StepEvent | None:
        """Train on the next mini-batch; None when the run is already done."""
        if self.done:
            return None
        # Overflow on the way to a NaN loss is handled (see _diverged): no warnings.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._step()

    def _step(self) -> StepEvent:
        t0 = time.perf_counter()
        if self._order is None:
            self._order = self.rng.permutation(len(self.X))
            self._pos = 0
        idx = self._order[self._pos : self._pos + self.batch_size]
        xb, yb = self.X[idx], self.y[idx]
        if self.augment is not None:
            xb = self.augment(xb, self.rng)

        lr = float(self.schedule.lr_at(self.step_count, self.base_lr))
        self.optimizer.lr = lr
        number = self.step_count + 1
        record = self.monitor is not None and (number - 1) % self.monitor.every == 0

        out = self._forward_observed(xb) if record else self.model.forward(xb)
        loss = float(self.loss_fn.forward(out, yb))
        if not math.isfinite(loss):
            return self._diverged(number, loss, lr, t0)
        correct = acc = None
        if self.classify and out.ndim == 2:
            correct = int(np.count_nonzero(out.argmax(axis=1) == yb))
            acc = correct / len(yb)
        self.model.backward(self.loss_fn.backward())
        if record:
            self.monitor.before_update(number)
        if (number - 1) % ROLLBACK_EVERY == 0:
            self._keep_last_good(number - 1)
        self.optimizer.step()
        if record:
            self.monitor.after_update()

        self.step_count = number
        self._pos += len(idx)
        sums = self._epoch_sums
        sums[0] += loss * len(idx)
        sums[1] += correct or 0
        sums[2] += len(idx)
        epoch_metrics = None
        if self._pos >= len(self.X):
            epoch_metrics = self._end_epoch()
        self.elapsed += time.perf_counter() - t0
        if epoch_metrics is not None:
            epoch_metrics["time"] = self.elapsed
        h = self.history.steps
        h["step"].append(number)
        h["epoch"].append(self.epoch + (epoch_metrics is None))
        h["loss"].append(loss)
        h["accuracy"].append(math.nan if acc is None else acc)
        h["lr"].append(lr)
        h["time"].append(self.elapsed)  # last: marks the step complete for readers
        if epoch_metrics is not None:
            self.history.epochs.append(epoch_metrics)
        return StepEvent(
            number,
            h["epoch"][-1],
            loss,
            acc,
            lr,
            self.elapsed,
            epoch_metrics,
            self.done,
            self.stop_reason,
        )

    def _forward_observed(self, xb: np.ndarray) -> np.ndarray:
        """Forward pass that also counts dead ReLU units (no copies of activations)."""
        relus = set(self.monitor.relu_layers)
        outputs = {}

        def observe(i: int, y: np.ndarray) -> None:
            if i in relus:
                outputs[i] = (y > 0).any(axis=0)  # per unit: fired for some sample

        x = self.model.forward_each(xb, observe)  # backward walks the same layers
        self.monitor.record_alive(outputs)
        return x

    def _keep_last_good(self, step: int) -> None:
        """Copy the weights that just gave a finite loss, to go back to on divergence."""
        self._good_step = step
        for p, keep in zip(self._params, self._last_good, strict=True):
            np.copyto(keep, p.data)
        for b, keep in self._buffers_good:
            np.copyto(keep, b)

    def _diverged(self, number: int, loss: float, lr: float, t0: float) -> StepEvent:
        for p, keep in zip(self._params, self._last_good, strict=True):
            np.copyto(p.data, keep)
        for b, keep in self._buffers_good:
            np.copyto(b, keep)
        if self.monitor is not None:
            self.monitor.discard_last()
        what = "NaN" if math.isnan(loss) else "infinite"
        self.done = False  # so that stop() records this reason
        self.stop(
            f"the loss became {what} at step {number}: training diverged. Lower the "
            f"learning rate (it was {lr:g}) and train again; the weights were reset to "
            f"those {self._good_phrase()}."
        )
        self.diverged = self.stop_reason
        self.elapsed += time.perf_counter() - t0
        return StepEvent(
            number, self.epoch + 1, loss, None, lr, self.elapsed, None, True, self.stop_reason
        )

    def _good_phrase(self) -> str:
        return "before training" if self._good_step == 0 else f"after step {self._good_step}"

    def _end_epoch(self) -> dict:
        loss_sum, correct, n = self._epoch_sums
        self.epoch += 1
        metrics = {
            "epoch": self.epoch,
            "step": self.step_count,
            "train_loss": loss_sum / n,
            "train_accuracy": correct / n if self.classify else None,
            "val_loss": None,
            "val_accuracy": None,
            "time": None,
        }
        if self.X_val is not None:
            metrics["val_loss"], metrics["val_accuracy"] = self.evaluate(self.X_val, self.y_val)
        self._order, self._pos, self._epoch_sums = None, 0, [0.0, 0, 0]
        if self.epoch >= self.epochs:
            self.stop(FINISHED)
        return metrics

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> tuple[float, float | None]:
        """Mean loss and accuracy on (X, y) in eval mode, in batches (mode restored after)."""
        was_training = self.model.training
        self.model.eval()
        loss_sum, correct = 0.0, 0
        try:
            for i in range(0, len(X), self.eval_batch_size):
                xb, yb = X[i : i + self.eval_batch_size], y[i : i + self.eval_batch_size]
                out = self.model.forward(xb)
                loss_sum += float(self.loss_fn.forward(out, yb)) * len(xb)
                if self.classify and out.ndim == 2:
                    correct += int(np.count_nonzero(out.argmax(axis=1) == yb))
        finally:
            if was_training:
                self.model.train()
        n = max(len(X), 1)
        return loss_sum / n, (correct / n if self.classify else None)


def fit(
    model: Sequential,
    loss_fn,
    optimizer: Optimizer,
    X,
    y,
    *,
    callback: Callable[[StepEvent], bool | None] | None = None,
    **trainer_kwargs,
) -> History:
    """Train to the end and return the `History`.

    Takes the same keyword arguments as `Trainer` (``rng`` is required). ``callback(event)``
    is called after every step; returning False stops training (``None`` continues).
    """
    trainer = Trainer(model, loss_fn, optimizer, X, y, **trainer_kwargs)
    while not trainer.done:
        event = trainer.step()
        if callback is not None and callback(event) is False:
            trainer.stop()
    return trainer.history


def _check_data(X, y, what: str) -> tuple[np.ndarray, np.ndarray]:
    """float32 inputs and int64 (or float32 regression) targets of matching length."""
    if y is None:
        raise ValueError(f"the {what} inputs have no targets (y)")
    X = np.asarray(X)
    X = X if X.dtype == np.float32 else X.astype(np.float32)
    y = np.asarray(y)
    if y.dtype.kind in "iub":
        y = y.astype(np.int64, copy=False)
    elif y.dtype.kind == "f":
        y = y.astype(np.float32, copy=False)
    else:
        raise ValueError(f"the {what} targets must be numbers, got dtype {y.dtype}")
    if len(X) == 0:
        raise ValueError(f"the {what} set is empty")
    if len(X) != len(y):
        raise ValueError(f"the {what} set has {len(X)} inputs but {len(y)} targets")
    return X, y
