"""Your own images in the browser: upload a zip of class folders on the Data page, see it
become the dataset, and get a clear message for a zip that is not one."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser


def shapes_zip() -> bytes:
    """Two classes drawn as PNGs of mixed sizes: a bright disc and a bright bar."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(8):
            n = 40 + 4 * i
            yy, xx = np.mgrid[:n, :n] - n / 2
            disc = (xx**2 + yy**2 < (n / 3) ** 2) * 220 + rng.integers(0, 30, (n, n))
            bar = (np.abs(xx) < n / 8) * 220 + rng.integers(0, 30, (n, n))
            for label, img in (("disc", disc), ("bar", bar)):
                png = io.BytesIO()
                Image.fromarray(img.astype(np.uint8)).save(png, format="PNG")
                z.writestr(f"shapes/{label}/{i}.png", png.getvalue())
        z.writestr("shapes/notes.txt", "not an image")
    return buf.getvalue()


def upload(page, helpers, name: str, data: bytes) -> None:
    box = helpers.key(page, "data.own_zip")
    box.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": name, "mimeType": "application/zip", "buffer": data}]
    )
    helpers.key(page, "data.own_make").locator("button").wait_for()
    helpers.key(page, "data.own_make").locator("button").click()


def test_a_zip_of_class_folders_becomes_the_dataset(page, helpers, shot):
    helpers.open(page, "data")
    page.get_by_text("Use your own images").click()
    upload(page, helpers, "broken.zip", b"this is not a zip")
    page.get_by_text("The current dataset is unchanged").wait_for()
    shot(page, "data-own-bad-zip")

    upload(page, helpers, "shapes.zip", shapes_zip())
    page.get_by_role("heading", name="shapes").first.wait_for()
    helpers.wait_idle(page)
    assert not page.locator('[data-testid="stException"]').count()
    assert page.get_by_text("16 of your own images in 2 classes").count()
    shot(page, "data-own-images")

    # The Build page checks the network against the new input (1 x 28 x 28, two classes).
    helpers.open(page, "build")
    assert not page.locator('[data-testid="stException"]').count()
