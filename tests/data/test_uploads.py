"""A .zip or folder of class folders as a small dataset, and every way it can be wrong."""

import numpy as np
import pytest
from data_fakes import image_bytes, png_header_only, zip_bytes

from netcore.datasets import DatasetError, UploadLimits, read_zip
from ui.images import load_folder_dataset, load_zip_dataset


def picture(h, w, value, channels=None, seed=0):
    rng = np.random.default_rng(seed)
    shape = (h, w) if channels is None else (h, w, channels)
    return np.clip(rng.normal(value, 10, shape), 0, 255).astype(np.uint8)


def class_zip(prefix="pets/", n=5, extra=None):
    """cats are dark, dogs are light; sizes and formats mixed on purpose."""
    members = {}
    for i in range(n):
        members[f"{prefix}cat/c{i}.png"] = image_bytes(picture(20 + i, 30, 40, seed=i))
        members[f"{prefix}dog/d{i}.jpg"] = image_bytes(picture(50, 40 + 7 * i, 200, 3, i), "JPEG")
    members.update(extra or {})
    return zip_bytes(members)


def test_good_zip_becomes_a_dataset():
    ds, problems = load_zip_dataset(class_zip(), "pets.zip", (1, 28, 28), test_ratio=0.2)
    assert problems == []
    assert ds.class_names == ("cat", "dog") and ds.info.title == "pets"
    assert ds.X_train.shape == (8, 1, 28, 28) and ds.X_test.shape == (2, 1, 28, 28)
    assert np.array_equal(np.bincount(ds.y_test), [1, 1])
    # Mixed sizes are resized to the model input: dark cats, light dogs survive it.
    X = np.concatenate([ds.X_train, ds.X_test])
    y = np.concatenate([ds.y_train, ds.y_test])
    assert X[y == 0].mean() < 0.25 < 0.7 < X[y == 1].mean()


def test_colour_input_shape():
    ds, _ = load_zip_dataset(class_zip(prefix=""), "pets.zip", (3, 32, 32))
    assert ds.raw_train.shape[1:] == (3, 32, 32) and ds.X_train.dtype == np.float32


def test_bad_members_are_skipped_and_named():
    extra = {
        "pets/cat/notes.txt": b"hello",
        "pets/cat/broken.png": b"\x89PNG\r\n\x1a\n garbage",
        "pets/dog/huge.png": png_header_only(9_000, 9_000),
        "pets/readme.png": image_bytes(picture(5, 5, 0)),
        "pets/__MACOSX/cat/._c0.png": b"resource fork",
    }
    ds, problems = load_zip_dataset(class_zip(extra=extra), "pets.zip")
    text = "\n".join(problems)
    assert len(problems) == 4
    for name in ("pets/cat/notes.txt", "pets/cat/broken.png", "pets/dog/huge.png", "readme.png"):
        assert name in text
    assert "__MACOSX" not in text and len(ds.y_train) + len(ds.y_test) == 10


def test_zip_slip_is_refused():
    for evil in ("pets/../../etc/cron.d/x.png", "/etc/passwd", "C:\\Windows\\x.png"):
        data = class_zip(extra={evil: b"x"})
        with pytest.raises(DatasetError) as err:
            load_zip_dataset(data, "pets.zip")
        assert "pets.zip" in str(err.value) and evil in str(err.value)
        assert "outside" in str(err.value)


def test_zip_bomb_is_refused_before_inflating():
    bomb = zip_bytes({"pets/cat/a.png": bytes(5_000_000), "pets/dog/b.png": b"x"})
    assert len(bomb) < 20_000
    with pytest.raises(DatasetError, match=r"pets.zip was refused: pets/cat/a.png .*zip bomb"):
        read_zip(bomb, "pets.zip")


def test_total_size_and_file_count_limits():
    data = class_zip()
    with pytest.raises(DatasetError, match=r"pets.zip would unpack to .* the limit is"):
        read_zip(data, "pets.zip", UploadLimits(max_total_bytes=1000))
    with pytest.raises(DatasetError, match=r"pets.zip holds 10 files; the limit is 3"):
        read_zip(data, "pets.zip", UploadLimits(max_files=3))


def test_too_few_images_per_class_names_the_class():
    data = class_zip(n=5, extra={"pets/bird/b0.png": image_bytes(picture(9, 9, 99))})
    with pytest.raises(DatasetError, match=r"'bird' \(1\).*at least 4"):
        load_zip_dataset(data, "pets.zip")


def test_one_class_or_nothing():
    one = zip_bytes({f"cat/{i}.png": image_bytes(picture(8, 8, 50, seed=i)) for i in range(5)})
    with pytest.raises(DatasetError, match="only the class 'cat'.*two class folders"):
        load_zip_dataset(one, "cats.zip")
    with pytest.raises(DatasetError, match="no readable images"):
        load_zip_dataset(zip_bytes({"a.txt": b"x"}), "empty.zip")


def test_not_a_zip_names_the_file():
    with pytest.raises(DatasetError, match="holiday.zip is not a readable .zip"):
        load_zip_dataset(b"PK\x03\x04 not really", "holiday.zip")


def test_folder_of_class_folders(tmp_path):
    root = tmp_path / "shapes"
    for label, value in (("dark", 30), ("light", 220)):
        (root / label).mkdir(parents=True)
        for i in range(4):
            (root / label / f"{i}.png").write_bytes(image_bytes(picture(12, 9 + i, value, seed=i)))
    (root / "light" / "bad.png").write_bytes(b"not a png")
    outside = tmp_path / "secret.png"
    outside.write_bytes(image_bytes(picture(5, 5, 0)))
    (root / "dark" / "link.png").symlink_to(outside)
    ds, problems = load_folder_dataset(root, (1, 16, 16), test_ratio=0.25)
    assert ds.class_names == ("dark", "light") and ds.input_shape == (1, 16, 16)
    assert len(ds.y_train) + len(ds.y_test) == 8
    assert any("light/bad.png" in p for p in problems)
    assert any("dark/link.png" in p and "outside" in p for p in problems)
