"""Loss functions: one number that says how wrong the network is on a batch.

Each loss has ``forward(prediction, target) -> float`` (the mean over the batch) and
``backward() -> d(loss)/d(prediction)``, the gradient that starts the backward pass.
"""

from __future__ import annotations

import numpy as np


class CrossEntropyLoss:
    """Softmax followed by the negative log-likelihood of the true class, in one step.

    ``loss = mean over n of -log softmax(logits[n])[labels[n]]``

    Why fused: computing softmax and then its log separately loses precision (``log`` of
    a probability that rounded to 0 is ``-inf``). Written with the log-sum-exp trick,
    ``-log softmax(z)_y = log(sum_j exp(z_j - m)) - (z_y - m)`` with ``m = max(z)``, no
    step overflows or underflows. The gradient is then remarkably simple:
    ``d loss / d logits = (softmax(logits) - one_hot(labels)) / N``.

    Attributes
    ----------
    probs : (N, K) array
        Softmax probabilities of the last forward pass (for accuracy, confusion matrices).
    """

    def __init__(self):
        self.probs: np.ndarray | None = None
        self._labels: np.ndarray | None = None

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        """Mean cross-entropy of a batch.

        Parameters
        ----------
        logits : (N, K) array
            Raw class scores (no softmax applied).
        labels : (N,) int array
            True class of each sample, in ``0 .. K-1``.

        Returns
        -------
        float
        """
        logits = np.asarray(logits)
        labels = np.asarray(labels)
        if logits.ndim != 2:
            raise ValueError(
                f"CrossEntropyLoss expects logits of shape (batch, classes) but gets "
                f"{logits.shape}; end the network with a Dense layer with one output per class"
            )
        n, k = logits.shape
        if labels.shape != (n,):
            raise ValueError(
                f"CrossEntropyLoss expects one label per sample, shape ({n},), but gets "
                f"{labels.shape}; pass class indices, not one-hot vectors"
            )
        if labels.dtype.kind not in "iu":  # signed or unsigned integers
            raise ValueError(
                f"CrossEntropyLoss expects integer class indices but gets {labels.dtype} labels"
            )
        if n and (labels.min() < 0 or labels.max() >= k):
            raise ValueError(
                f"labels must lie in 0..{k - 1} (the network has {k} outputs) but range "
                f"from {labels.min()} to {labels.max()}; give the last layer one output per class"
            )
        shifted = logits - logits.max(axis=1, keepdims=True)  # the largest score is now 0
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1, keepdims=True)
        rows = np.arange(n)
        # -log p_y = log(sum_j exp(s_j)) - s_y
        nll = np.log(sum_exp[:, 0]) - shifted[rows, labels]
        exp /= sum_exp  # now the probabilities, in place (no new array)
        self.probs = exp
        self._labels = labels
        if n == 0:
            return float("nan")  # the mean of nothing, as np.mean gives
        return float(nll.sum()) / n  # the mean (np.mean costs several times more here)

    def backward(self) -> np.ndarray:
        """Gradient of the mean loss with respect to the logits: ``(probs - one_hot) / N``.

        Returns
        -------
        (N, K) array, same dtype as the logits.
        """
        grad = self.probs.copy()
        n = grad.shape[0]
        grad[np.arange(n), self._labels] -= 1
        grad /= n
        return grad


class MSELoss:
    """Mean squared error: ``loss = mean((pred - target)**2)`` over every value.

    Backward: ``d loss / d pred = 2 * (pred - target) / pred.size``.
    """

    def __init__(self):
        self._diff: np.ndarray | None = None

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        """Mean squared error.

        Parameters
        ----------
        pred : (N, ...) array
        target : array of the same shape

        Returns
        -------
        float
        """
        pred = np.asarray(pred)
        target = np.asarray(target)
        if pred.shape != target.shape:
            raise ValueError(
                f"MSELoss needs predictions and targets of the same shape but gets "
                f"{pred.shape} and {target.shape}"
                + (
                    "; reshape the targets to (N, 1)"
                    if target.ndim == 1 and pred.shape == (target.shape[0], 1)
                    else ""
                )
            )
        self._diff = pred - target.astype(pred.dtype, copy=False)
        return float(np.mean(self._diff * self._diff))

    def backward(self) -> np.ndarray:
        """Gradient with respect to the predictions, same shape and dtype."""
        return self._diff * (2.0 / self._diff.size)


LOSSES = {"CrossEntropyLoss": CrossEntropyLoss, "MSELoss": MSELoss}
"""Loss classes by name."""
