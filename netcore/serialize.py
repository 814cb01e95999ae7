"""Saving and loading networks as ``.npz`` files, without pickle.

A model file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) holding

* one array per state-dict entry, named as in `Sequential.state_dict` (``"0.weight"``);
* ``__architecture__``: a 0-d unicode array with a JSON document::

    {"format": "netcore-model", "format_version": 1, "netcore_version": "0.1.0",
     "input_shape": [1, 28, 28], "spec": [{"type": "Conv2D", ...}, ...], "meta": {...}}

  ``meta`` is free JSON for the application (class names, dataset, normalisation, ...).

Loading uses ``np.load(..., allow_pickle=False)``, so a file can only ever contain numbers
and text: opening a model from a stranger cannot run code. Every problem is reported as a
ValueError saying what is wrong with the file.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from netcore.model import Sequential
from netcore.spec import build_model, model_to_spec

ARCH_KEY = "__architecture__"
FORMAT = "netcore-model"
FORMAT_VERSION = 1

# What a broken or foreign file raises inside np.load / zipfile / zlib.
_READ_ERRORS = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


def save_model(
    file, model: Sequential, input_shape: tuple[int, ...], *, meta: dict | None = None
) -> None:
    """Write `model` (architecture, weights, buffers) to an ``.npz`` file.

    Parameters
    ----------
    file : str, Path or binary file object (e.g. ``io.BytesIO``). A path is written
        exactly as given (no ``.npz`` appended) and atomically: a crash mid-write leaves the
        old file intact.
    model : Sequential
    input_shape : shape of one sample, e.g. ``(1, 28, 28)``; checked against the model.
    meta : JSON-able dict stored alongside (class names, dataset, normalisation, ...).
    """
    shape = tuple(int(s) for s in input_shape)
    model.output_shapes(shape)  # raises ValueError if the shape does not fit the model
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "netcore_version": _version(),
        "input_shape": list(shape),
        "spec": model_to_spec(model),
        "meta": meta or {},
    }
    try:
        text = json.dumps(doc, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"meta must hold plain JSON values: {err}") from None
    arrays = model.state_dict()
    arrays[ARCH_KEY] = np.array(text)
    if isinstance(file, str | os.PathLike):
        _atomic_write(Path(file), arrays)
    else:
        np.savez_compressed(file, **arrays)


def model_to_bytes(
    model: Sequential, input_shape: tuple[int, ...], *, meta: dict | None = None
) -> bytes:
    """The bytes of `save_model` (for a download button)."""
    buf = io.BytesIO()
    save_model(buf, model, input_shape, meta=meta)
    return buf.getvalue()


def read_model_file(file) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and check a model file: ``(architecture document, state dict)``.

    ``file`` is a path, a binary file object or ``bytes``. Raises ValueError when the file
    is not a NetCore model or is damaged.
    """
    if isinstance(file, bytes | bytearray):
        file = io.BytesIO(file)
    name = str(file) if isinstance(file, str | os.PathLike) else "the file"
    if isinstance(file, str | os.PathLike) and not Path(file).is_file():
        raise ValueError(f"{name}: no such file")
    try:
        data = np.load(file, allow_pickle=False)
    except _READ_ERRORS as err:
        raise ValueError(f"{name} is not a NetCore model file (.npz): {_reason(err)}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{name} holds a single array, not a saved model")
    try:
        with data:
            arrays = {key: data[key] for key in data.files}
    except _READ_ERRORS as err:  # members are decompressed here: damage shows up now
        raise ValueError(
            f"{name} is not a NetCore model file, or it is damaged: {_reason(err)}"
        ) from None
    if ARCH_KEY not in arrays:
        raise ValueError(
            f"{name} has no architecture record ({ARCH_KEY}); it is an .npz file but not one "
            "saved by NetCore. Load it into a model you built with load_weights_into."
        )
    doc = _parse_architecture(arrays.pop(ARCH_KEY))
    return doc, arrays


def load_model(file) -> tuple[Sequential, dict]:
    """Rebuild a saved model: ``(model, info)``.

    ``info`` has ``input_shape`` (tuple), ``spec``, ``meta`` and ``netcore_version``. The
    model comes back in eval mode. Raises ValueError with the reason for anything wrong:
    not an npz, no architecture, an unknown layer, a weight of the wrong shape (one message
    per mismatch), non-finite weights.
    """
    doc, arrays = read_model_file(file)
    try:
        model = build_model(doc["spec"], tuple(doc["input_shape"]), rng=np.random.default_rng(0))
    except ValueError as err:
        raise ValueError(f"the saved architecture cannot be built: {err}") from None
    _check_values(arrays)
    problems = model.check_state_dict(arrays)
    if problems:
        raise ValueError(
            "the saved weights do not match the saved architecture:\n  " + "\n  ".join(problems)
        )
    model.load_state_dict(arrays)
    model.eval()
    info = {
        "input_shape": tuple(doc["input_shape"]),
        "spec": doc["spec"],
        "meta": doc.get("meta") or {},
        "netcore_version": doc.get("netcore_version"),
    }
    return model, info


def load_weights_into(model: Sequential, file) -> dict:
    """Load the weights of a saved file into an existing `model`, in place.

    The file's layers must match the model's: same layer types in the same order, same
    parameter names and shapes. Otherwise a ValueError lists every mismatch and the model
    is left exactly as it was. Returns the file's ``info`` (as in `load_model`).
    """
    doc, arrays = read_model_file(file)
    _check_values(arrays)
    problems = []
    saved_types = [entry.get("type") for entry in doc["spec"]]
    model_types = [type(layer).__name__ for layer in model]
    if saved_types != model_types:
        problems.append(
            f"the file has layers {', '.join(map(str, saved_types))}; this model has "
            f"{', '.join(model_types)}"
        )
    problems += model.check_state_dict(arrays)
    if problems:
        raise ValueError("this file does not fit the model:\n  " + "\n  ".join(problems))
    model.load_state_dict(arrays)
    return {
        "input_shape": tuple(doc["input_shape"]),
        "spec": doc["spec"],
        "meta": doc.get("meta") or {},
        "netcore_version": doc.get("netcore_version"),
    }


# -- helpers -------------------------------------------------------------------------------
def _parse_architecture(arr: np.ndarray) -> dict:
    if arr.dtype.kind != "U" or arr.shape != ():
        raise ValueError(f"{ARCH_KEY} should be a JSON text, got an array of {arr.dtype}")
    try:
        doc = json.loads(str(arr))
    except json.JSONDecodeError as err:
        raise ValueError(f"the architecture record is not valid JSON: {err}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError("the architecture record is not a NetCore model description")
    version = doc.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"the file uses model format version {version!r}; this NetCore reads up to "
            f"{FORMAT_VERSION}. Update NetCore to open it."
        )
    shape = doc.get("input_shape")
    if not (isinstance(shape, list) and shape and all(isinstance(s, int) and s > 0 for s in shape)):
        raise ValueError(f"the architecture record has an invalid input_shape: {shape!r}")
    if not isinstance(doc.get("spec"), list) or not all(isinstance(e, dict) for e in doc["spec"]):
        raise ValueError("the architecture record has no layer list (spec)")
    if not isinstance(doc.get("meta", {}), dict):
        raise ValueError("the architecture record's meta is not a JSON object")
    return doc


def _check_values(arrays: dict[str, np.ndarray]) -> None:
    bad = []
    for name, a in arrays.items():
        if a.dtype.kind not in "fiu":
            bad.append(f"{name}: holds {a.dtype} values, not numbers")
        elif a.dtype.kind == "f" and not np.isfinite(a).all():
            bad.append(f"{name}: contains NaN or infinite values")
    if bad:
        raise ValueError("the saved weights are not usable:\n  " + "\n  ".join(bad))


def _atomic_write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write to a temporary file next to `path`, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _reason(err: Exception) -> str:
    """NumPy's and zipfile's errors in words for the user (never "load it unsafely")."""
    text = str(err)
    if "pickled (object) data" in text:  # np.load's guess for a file it does not recognise
        return "it is neither an .npz archive nor a .npy array"
    if "pickle" in text or "Object arrays" in text:
        return "it holds Python objects, which are never loaded (they could run code)"
    if isinstance(err, zipfile.BadZipFile) and "CRC" not in text:
        return "it is not a zip archive, or it was cut short (e.g. an interrupted download)"
    if isinstance(err, EOFError) or "No data left" in text:
        return "it is empty or cut short"
    if "CRC" in text or isinstance(err, zlib.error):
        return f"its contents are damaged ({text})"
    text = text or type(err).__name__
    return text if len(text) < 200 else text[:197] + "..."


def _version() -> str:
    from netcore import __version__  # late import: netcore/__init__ imports this module

    return __version__


__all__ = ["load_model", "load_weights_into", "model_to_bytes", "read_model_file", "save_model"]
