"""`History`: the learning curves of a run, one entry per step and one per epoch.

It is filled by `netcore.train.Trainer` and read by the charts; `to_dict` / `from_dict`
give plain JSON (for a run store or a download) and `to_csv` a table for a spreadsheet.
"""

from __future__ import annotations

import csv
import io
import math

import numpy as np

from netcore.monitor import Monitor


class History:
    """Learning curves: one entry per step, one dict per epoch, optional statistics.

    Attributes
    ----------
    steps : dict of lists, keys `STEP_KEYS`; ``steps["loss"][i]`` is the loss of step i+1.
        ``accuracy`` holds NaN when it does not apply.
    epochs : list of dict, keys `EPOCH_KEYS`; ``val_*`` are None without validation data.
    stats : dict or None, the training statistics (see `netcore.monitor.Monitor`).
    """

    STEP_KEYS = ("step", "epoch", "loss", "accuracy", "lr", "time")
    EPOCH_KEYS = (
        "epoch",
        "step",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "time",
    )

    def __init__(self):
        self.steps: dict[str, list] = {k: [] for k in self.STEP_KEYS}
        self.epochs: list[dict] = []
        self._monitor: Monitor | None = None
        self._stats: dict | None = None

    def __len__(self) -> int:
        return len(self.steps["time"])  # "time" is appended last: a complete step

    @property
    def stats(self) -> dict | None:
        return self._monitor.to_dict() if self._monitor is not None else self._stats

    def array(self, key: str) -> np.ndarray:
        """One per-step series as a float64 array, e.g. ``history.array("loss")``."""
        return np.array(self.steps[key][: len(self)], dtype=np.float64)

    def epoch_array(self, key: str) -> np.ndarray:
        """One per-epoch series as float64 (NaN where missing), e.g. ``"val_accuracy"``."""
        return np.array(
            [np.nan if e[key] is None else e[key] for e in self.epochs[:]], dtype=np.float64
        )

    def snapshot(self) -> History:
        """A consistent copy of the curves (safe to read while another thread keeps training).

        The statistics are not copied: the copy reads them from the same monitor when asked
        (``.stats``), because a live chart redrawn every second rarely needs them and turning
        them into plain lists costs more than copying the curves.
        """
        n = len(self)
        copy = History()
        copy.steps = {k: v[:n] for k, v in self.steps.items()}  # list slices are copies
        copy.epochs = [dict(e) for e in self.epochs[:]]
        copy._monitor, copy._stats = self._monitor, self._stats
        return copy

    def to_dict(self) -> dict:
        """Plain JSON values (NaN accuracies become None)."""
        n = len(self)
        steps = {k: list(v[:n]) for k, v in self.steps.items()}
        steps["accuracy"] = [None if a != a else a for a in steps["accuracy"]]  # NaN != NaN
        return {"steps": steps, "epochs": [dict(e) for e in self.epochs], "stats": self.stats}

    @classmethod
    def from_dict(cls, data: dict) -> History:
        """Inverse of `to_dict`; ValueError when keys are missing or lengths differ."""
        try:
            steps = data["steps"]
            lengths = {len(steps[k]) for k in cls.STEP_KEYS}
            epochs = [dict(e) for e in data["epochs"]]
            missing = [k for e in epochs for k in cls.EPOCH_KEYS if k not in e]
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a training history: missing {err}") from None
        if len(lengths) != 1 or missing:
            raise ValueError(
                "not a training history: the step series differ in length "
                "or an epoch entry is incomplete"
            )
        history = cls()
        history.steps = {k: list(steps[k]) for k in cls.STEP_KEYS}
        history.steps["accuracy"] = [math.nan if a is None else a for a in steps["accuracy"]]
        history.epochs = epochs
        history._stats = data.get("stats")
        return history

    def to_csv(self, which: str = "steps") -> str:
        """The per-step (``"steps"``) or per-epoch (``"epochs"``) table as CSV text."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if which == "steps":
            writer.writerow(self.STEP_KEYS)
            n = len(self)
            cols = [self.steps[k][:n] for k in self.STEP_KEYS]
            for row in zip(*cols, strict=True):
                writer.writerow(["" if v != v else v for v in row])  # NaN as an empty cell
        elif which == "epochs":
            writer.writerow(self.EPOCH_KEYS)
            for e in self.epochs:
                writer.writerow(["" if e[k] is None else e[k] for k in self.EPOCH_KEYS])
        else:
            raise ValueError(f"which must be 'steps' or 'epochs', got {which!r}")
        return out.getvalue()
