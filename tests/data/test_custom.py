"""The user's own image sets, kept on the server: saved once, found by key everywhere."""

import numpy as np
import pytest
from test_uploads import class_zip

from netcore.datasets import DatasetError, dataset_info, list_datasets, load_dataset, load_raw
from netcore.datasets.custom import list_custom, save_custom
from ui.images import load_zip_dataset


def pets(shape=(1, 28, 28)):
    ds, problems = load_zip_dataset(class_zip(), "pets.zip", shape, test_ratio=0.2)
    assert problems == []
    return ds


def test_a_saved_set_loads_like_a_built_in_one(cache_dir):
    ds = pets()
    key = save_custom(ds)
    assert key.startswith("custom-") and len(key) == len("custom-") + 12
    info = dataset_info(key)
    assert info.available and info.kind == "custom" and info.title == "pets"
    assert info.class_names == ("cat", "dog") and info.input_shape == (1, 28, 28)
    loaded = load_dataset(key)
    assert loaded.info.key == key
    for a, b in zip(loaded.arrays(), ds.arrays(), strict=True):
        assert np.array_equal(a, b)
    assert [i.key for i in list_datasets()][-1] == key


def test_the_same_images_keep_one_copy_and_other_images_get_another_key(cache_dir):
    first = save_custom(pets())
    assert save_custom(pets()) == first
    colour = save_custom(pets((3, 32, 32)))
    assert colour != first
    assert [i.key for i in list_custom()] == [first, colour]
    assert dataset_info(colour).input_shape == (3, 32, 32)


def test_missing_damaged_and_malformed_keys_are_explained(cache_dir):
    with pytest.raises(DatasetError, match="no longer on this server"):
        dataset_info("custom-0123456789ab")
    with pytest.raises(DatasetError, match="not the name of a saved image set"):
        load_raw("custom-../../etc/passwd")
    key = save_custom(pets())
    (cache_dir / "custom" / f"{key}.npz").write_bytes(b"not an npz")
    with pytest.raises(DatasetError, match="damaged"):
        load_dataset(key)
    assert list_custom() == []  # a damaged file is not offered


def test_an_unwritable_cache_gives_a_clear_message(cache_dir):
    cache_dir.mkdir(parents=True)
    (cache_dir / "custom").write_text("a file where the folder should be")
    with pytest.raises(DatasetError, match="NETCORE_DATA_DIR"):
        save_custom(pets())
