"""Saving and loading models: round trips, and every kind of bad file refused clearly."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest

from netcore import (
    build_model,
    load_model,
    load_weights_into,
    model_to_bytes,
    preset_spec,
    read_model_file,
    save_model,
)
from netcore.serialize import ARCH_KEY

SHAPE = (1, 12, 12)
SPEC = [
    {"type": "Conv2D", "out_channels": 4, "kernel_size": 3, "padding": 1},
    {"type": "BatchNorm2D"},
    {"type": "ReLU"},
    {"type": "MaxPool2D", "kernel_size": 2},
    {"type": "Flatten"},
    {"type": "Dropout", "p": 0.3},
    {"type": "Dense", "out_features": 3},
]


def trained_model(seed=0):
    """A model whose weights and BatchNorm statistics are not the initial ones."""
    model = build_model(SPEC, SHAPE, rng=np.random.default_rng(seed))
    x = np.random.default_rng(seed + 10).standard_normal((8, *SHAPE)).astype(np.float32)
    model.forward(x)
    for p in model.parameters():
        p.data += 0.01
    return model


def sample(n=5):
    return np.random.default_rng(99).standard_normal((n, *SHAPE)).astype(np.float32)


def arrays_of(data: bytes) -> dict:
    with np.load(io.BytesIO(data), allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def npz_bytes(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


# -- round trips -------------------------------------------------------------------------------
def test_round_trip_gives_identical_predictions(tmp_path):
    model = trained_model()
    meta = {"classes": ["a", "b", "c"], "dataset": "toy", "mean": 0.5}
    path = tmp_path / "model.netcore"
    save_model(path, model, SHAPE, meta=meta)
    assert os.listdir(tmp_path) == ["model.netcore"]  # exact name, no temporary left behind
    loaded, info = load_model(path)
    assert info["meta"] == meta and info["input_shape"] == SHAPE
    assert info["netcore_version"] == "0.1.0"
    assert not loaded.training
    np.testing.assert_array_equal(loaded.predict_proba(sample()), model.predict_proba(sample()))
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[k], v)


def test_round_trip_through_bytes_and_file_objects():
    model = trained_model()
    data = model_to_bytes(model, SHAPE)
    for source in (data, io.BytesIO(data)):
        loaded, _ = load_model(source)
        np.testing.assert_array_equal(loaded.predict(sample()), model.predict(sample()))


def test_file_is_plain_numbers_and_json():
    data = model_to_bytes(build_model(preset_spec("lenet5", (1, 28, 28), 10), (1, 28, 28),
                                      rng=np.random.default_rng(0)), (1, 28, 28))  # fmt: skip
    arrays = arrays_of(data)  # readable without pickle
    doc = json.loads(str(arrays.pop(ARCH_KEY)))
    assert doc["format"] == "netcore-model" and doc["input_shape"] == [1, 28, 28]
    assert doc["spec"][0]["type"] == "Conv2D" and "in_channels" not in doc["spec"][0]
    assert sorted(arrays)[:2] == ["0.bias", "0.weight"]
    assert all(a.dtype == np.float32 for a in arrays.values())


def test_save_refuses_a_wrong_input_shape_and_bad_meta():
    model = trained_model()
    with pytest.raises(ValueError, match="layer"):
        save_model(io.BytesIO(), model, (3, 12, 12))
    with pytest.raises(ValueError, match="meta"):
        save_model(io.BytesIO(), model, SHAPE, meta={"x": object()})


def test_load_weights_into_matching_model():
    source, target = trained_model(0), trained_model(1)
    info = load_weights_into(target, model_to_bytes(source, SHAPE, meta={"run": 7}))
    assert info["meta"] == {"run": 7}
    np.testing.assert_array_equal(target.eval().forward(sample()), source.eval().forward(sample()))


# -- refused files -----------------------------------------------------------------------------
def test_wrong_architecture_is_refused_and_model_unchanged():
    other = [dict(e) for e in SPEC]
    other[0]["out_channels"] = 5
    other[3] = {"type": "AvgPool2D", "kernel_size": 2}
    data = model_to_bytes(build_model(other, SHAPE, rng=np.random.default_rng(0)), SHAPE)
    model = trained_model()
    before = model.state_dict()
    with pytest.raises(ValueError) as err:
        load_weights_into(model, data)
    msg = str(err.value)
    assert "AvgPool2D" in msg and "MaxPool2D" in msg
    assert "0.weight: shape (5, 1, 3, 3)" in msg and "1.running_mean" in msg
    assert "6.weight" in msg  # 5*6*6 inputs instead of 4*6*6
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("cut", [0.0, 0.3, 0.9, 0.99])
def test_truncated_file_is_refused(cut):
    data = model_to_bytes(trained_model(), SHAPE)
    with pytest.raises(ValueError, match="NetCore model|damaged|architecture"):
        load_model(data[: int(len(data) * cut)])


def test_corrupted_bytes_are_refused():
    data = bytearray(model_to_bytes(trained_model(), SHAPE))
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    with pytest.raises(ValueError):
        load_model(bytes(data))


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, this is not a model", b"\x89PNG\r\n\x1a\n" + bytes(100)],
)
def test_foreign_bytes_are_refused(data):
    with pytest.raises(ValueError, match="not a NetCore model"):
        load_model(data)


def test_a_single_npy_array_is_refused():
    buf = io.BytesIO()
    np.save(buf, np.zeros(3))
    with pytest.raises(ValueError, match="single array"):
        load_model(buf.getvalue())


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        load_model(tmp_path / "nope.npz")


def test_npz_without_architecture_is_refused():
    with pytest.raises(ValueError, match="architecture"):
        load_model(npz_bytes({"0.weight": np.zeros((2, 2), np.float32)}))


def test_pickled_content_is_never_loaded():
    buf = io.BytesIO()
    np.savez(buf, **{ARCH_KEY: np.array([{"evil": 1}], dtype=object)})
    with pytest.raises(ValueError, match="NetCore model|damaged|pickle"):
        load_model(buf.getvalue())


def edited(**changes) -> bytes:
    arrays = arrays_of(model_to_bytes(trained_model(), SHAPE))
    doc = json.loads(str(arrays[ARCH_KEY]))
    for key, value in changes.items():
        if key.startswith("doc_"):
            doc[key[4:]] = value
        elif value is None:
            del arrays[key]
        else:
            arrays[key] = value
    if ARCH_KEY not in changes:
        arrays[ARCH_KEY] = np.array(json.dumps(doc))
    return npz_bytes(arrays)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (lambda: edited(**{ARCH_KEY: np.array("{not json")}), "not valid JSON"),
        (lambda: edited(**{ARCH_KEY: np.array('{"format": "other"}')}), "not a NetCore"),
        (lambda: edited(doc_format_version=99), "version 99"),
        (lambda: edited(doc_input_shape=[1, -2, 3]), "input_shape"),
        (lambda: edited(doc_spec=[{"type": "Transformer"}]), "Transformer"),
        (lambda: edited(doc_input_shape=[1, 1, 1]), "cannot be built"),
        (lambda: edited(**{"0.weight": np.zeros((4, 1, 5, 5), np.float32)}), "0.weight: shape"),
        (lambda: edited(**{"6.bias": None}), "6.bias: missing"),
        (lambda: edited(**{"9.weight": np.zeros(3, np.float32)}), "9.weight: not in"),
        (lambda: edited(**{"6.bias": np.full(3, np.nan, np.float32)}), "NaN"),
        (lambda: edited(**{"6.bias": np.array(["a", "b", "c"])}), "not numbers"),
    ],
)
def test_damaged_contents_are_explained(data, match):
    with pytest.raises(ValueError, match=match):
        load_model(data())


def test_read_model_file_returns_document_and_arrays():
    doc, arrays = read_model_file(model_to_bytes(trained_model(), SHAPE, meta={"k": 1}))
    assert doc["meta"] == {"k": 1} and "0.weight" in arrays and ARCH_KEY not in arrays
