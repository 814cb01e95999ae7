"""One user image: decoding with Pillow (ui.images), resizing and preparing (netcore)."""

import numpy as np
import pytest
from data_fakes import image_bytes, png_header_only

from netcore.datasets import DatasetError, load_dataset, prepare_image, resize
from netcore.datasets.images import center_digit, match_channels, pad_to_aspect, to_unit
from ui.images import decode_image, prepare_upload


def test_resize_area_average_and_identity():
    x = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    down = resize(x, 2, 2)[:, :, 0]
    np.testing.assert_allclose(down, [[2.5, 4.5], [10.5, 12.5]])  # 2x2 block means
    np.testing.assert_allclose(resize(x, 4, 4), x, atol=1e-6)
    odd = resize(x, 3, 3)  # non-integer factor: still an average, same overall mean
    assert odd.mean() == pytest.approx(x.mean(), rel=1e-6)


def test_resize_up_is_bilinear_and_keeps_constants():
    x = np.array([[0.0, 1.0]], dtype=np.float32).reshape(1, 2, 1)
    up = resize(x, 1, 4)[0, :, 0]
    np.testing.assert_allclose(up, [0.0, 0.25, 0.75, 1.0])
    const = np.full((3, 5, 3), 0.3, dtype=np.float32)
    np.testing.assert_allclose(resize(const, 17, 2), 0.3, atol=1e-6)


def test_channels_and_alpha():
    rgb = np.zeros((2, 2, 3), dtype=np.float32)
    rgb[..., 1] = 1.0
    assert match_channels(rgb, 1)[0, 0, 0] == pytest.approx(0.587)
    assert match_channels(rgb[..., :1], 3).shape == (2, 2, 3)
    # Black ink on transparent: composited over white, so it stays visible.
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (0, 0, 0, 255)
    x = to_unit(rgba)
    assert x[0, 0].tolist() == [0, 0, 0] and x[1, 1].tolist() == [1, 1, 1]
    # White ink on transparent: composited over black.
    rgba[0, 0] = (255, 255, 255, 255)
    assert to_unit(rgba)[1, 1].tolist() == [0, 0, 0]


def test_pad_to_aspect_keeps_everything():
    x = np.ones((10, 30, 1), dtype=np.float32)
    x[:, :, 0] = 0.2
    x[5, 15, 0] = 1.0
    out = pad_to_aspect(x, 28, 28)
    assert out.shape == (30, 30, 1) and out.max() == 1.0 and np.median(out) == pytest.approx(0.2)


def test_center_digit_puts_mass_in_the_middle():
    x = np.zeros((100, 100, 1), dtype=np.float32)
    x[5:25, 70:80] = 1.0  # a small bar in a corner
    out = center_digit(x)[:, :, 0]
    ys, xs = np.nonzero(out > 0.5)
    assert out.shape == (28, 28) and ys.max() - ys.min() + 1 == 20  # fits the 20-pixel box
    assert abs(ys.mean() - 13.5) <= 1 and abs(xs.mean() - 13.5) <= 1
    assert center_digit(np.zeros((10, 10, 1))).max() == 0


def test_digit_on_paper_matches_the_training_image():
    ds = load_dataset("mnist_5k")
    diffs = []
    for i in range(10):
        big = resize(ds.raw_test[i, 0][:, :, None] / 255.0, 280, 280)[:, :, 0]
        paper = np.stack([np.round((1 - big) * 255).astype(np.uint8)] * 3, axis=-1)
        p = prepare_upload(image_bytes(paper, "JPEG"), "photo.jpg", ds.info, ds.normalization)
        assert p.inverted and p.x.shape == (1, 1, 28, 28) and p.x.dtype == np.float32
        assert p.pixels.shape == (28, 28) and p.pixels.dtype == np.uint8
        diffs.append(np.abs(p.x[0, 0] - ds.X_test[i, 0]).mean())
    # Mean pixel error of a JPEG'd, 10x enlarged, inverted, re-framed digit vs the original;
    # two different digits differ by about 0.15.
    assert np.mean(diffs) < 0.08


def test_normalisation_identical_to_training():
    ds = load_dataset("mnist_5k", normalization="standardise")
    img = ds.raw_test[0, 0]
    p = prepare_image(img, ds.info, ds.normalization, invert=False, center=False)
    np.testing.assert_allclose(p.x[0], ds.X_test[0], atol=1e-5)


def test_colour_photo_for_cifar_shape():
    from netcore.datasets import DatasetInfo, Normalization

    info = DatasetInfo("c", "c", "", tuple("abcdefghij"), (3, 32, 32), 1, 1, "", "", "photos")
    norm = Normalization("standardise", (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    grey = np.full((40, 60), 255, dtype=np.uint8)
    p = prepare_image(grey, info, norm)
    assert p.x.shape == (1, 3, 32, 32) and not p.inverted and p.pixels.shape == (32, 32, 3)
    np.testing.assert_allclose(p.x, 2.0, atol=1e-5)  # (1 - 0.5) / 0.25


@pytest.mark.parametrize("fmt, shape", [("PNG", (9, 7)), ("PNG", (9, 7, 4)), ("JPEG", (9, 7, 3))])
def test_decode_good_images(fmt, shape):
    arr = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = decode_image(image_bytes(arr, fmt), f"x.{fmt.lower()}")
    assert out.shape == shape and out.dtype == np.uint8
    if fmt == "PNG":
        assert np.array_equal(out, arr)


def test_decode_shrinks_big_photos():
    arr = np.zeros((1500, 3000, 3), dtype=np.uint8)
    out = decode_image(image_bytes(arr, "JPEG"), "big.jpg", max_side=512)
    assert max(out.shape[:2]) <= 512 and out.shape[2] == 3


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "is empty"),
        (b"hello, this is text", "is not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "is not an image"),  # damaged PNG
        (png_header_only(100_000, 100_000), "too many pixels"),  # beyond Pillow's own limit
        (png_header_only(8_000, 8_000), "64 megapixels"),  # beyond ours, checked first
    ],
)
def test_bad_files_are_refused_by_name(data, words):
    with pytest.raises(DatasetError, match=words) as err:
        decode_image(data, "holiday/IMG_0042.png")
    assert "holiday/IMG_0042.png" in str(err.value)


def test_other_formats_are_refused_by_name():
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (4, 4)).save(buf, format="TIFF")
    with pytest.raises(DatasetError, match="scan.tif is a TIFF file"):
        decode_image(buf.getvalue(), "scan.tif")
