"""Decode the user's image files with Pillow; everything after decoding is in netcore.

`decode_image` is the only place that opens an image format. It reads the header first and
refuses, with a sentence naming the file, anything that is not an image, is a format we do not
accept, or is so large that decoding it would exhaust memory (a "decompression bomb": a small
file that declares, say, 100,000 x 100,000 pixels). Large but reasonable photos are shrunk while
decoding (networks here see 28-32 pixels), which keeps a 12-megapixel JPEG fast.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from netcore.datasets import (
    Dataset,
    DatasetError,
    DatasetInfo,
    Normalization,
    PreparedImage,
    UploadLimits,
    build_image_dataset,
    prepare_image,
    read_folder,
    read_zip,
)

FORMATS = {"PNG", "JPEG", "GIF", "BMP", "WEBP", "MPO"}  # MPO: JPEGs from some phone cameras
MAX_PIXELS = UploadLimits().max_pixels
MAX_SIDE = 1024  # decode to at most this many pixels per side


def decode_image(
    data: bytes, name: str, *, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE
) -> np.ndarray:
    """Image file bytes -> uint8 ``(H, W)`` grey, ``(H, W, 2)`` grey+alpha, ``(H, W, 3)`` RGB
    or ``(H, W, 4)`` RGBA.

    Raises
    ------
    DatasetError
        Naming the file: not an image, an unsupported format, or too many pixels.
    """
    if not data:
        raise DatasetError(f"{name} is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:  # reads the header only
                return _decode_opened(im, name, max_pixels, max_side)
    except DatasetError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DatasetError(
            f"{name} declares too many pixels to open safely ({e}). Shrink it first."
        ) from e
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as e:
        raise DatasetError(
            f"{name} is not an image this lab can read (PNG, JPEG, GIF, BMP or WebP)."
        ) from e


def _decode_opened(im: Image.Image, name: str, max_pixels: int, max_side: int) -> np.ndarray:
    if im.format not in FORMATS:
        raise DatasetError(f"{name} is a {im.format} file; use PNG, JPEG, GIF, BMP or WebP.")
    w, h = im.size
    if w * h > max_pixels:
        raise DatasetError(
            f"{name} is {w:,} x {h:,} pixels ({w * h / 1e6:,.0f} megapixels); the limit is "
            f"{max_pixels / 1e6:,.0f}. Shrink it first."
        )
    im.draft(im.mode, (max_side, max_side))  # JPEG: decode at 1/2, 1/4 or 1/8 scale, faster
    im = ImageOps.exif_transpose(im)  # phone photos: apply the camera's rotation
    if max(im.size) > max_side:
        im.thumbnail((max_side, max_side))
    return _to_array(im)


def _to_array(im: Image.Image) -> np.ndarray:
    """Any Pillow mode -> uint8 array with 1-4 channels."""
    if im.mode in ("L", "LA", "RGB", "RGBA"):
        return np.array(im)
    if im.mode in ("I", "I;16", "I;16B", "F"):  # 16-bit or float grey: stretch to 0-255
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        return np.round((a - lo) / max(hi - lo, 1e-12) * 255).astype(np.uint8)
    has_alpha = im.mode in ("PA", "La") or "transparency" in im.info
    return np.array(im.convert("RGBA" if has_alpha else "RGB"))


def prepare_upload(
    data: bytes,
    name: str,
    info: DatasetInfo,
    normalization: Normalization,
    *,
    invert: bool | str = "auto",
    center: bool | None = None,
) -> PreparedImage:
    """One uploaded image file -> network input shaped and normalised like `info`'s images."""
    pixels = decode_image(data, name)
    return prepare_image(pixels, info, normalization, invert=invert, center=center, name=name)


def load_zip_dataset(
    data: bytes,
    zip_name: str,
    input_shape: tuple[int, int, int] = (1, 28, 28),
    **kwargs,
) -> tuple[Dataset, list[str]]:
    """A .zip of class folders -> (Dataset, one sentence per skipped file).

    Keyword arguments go to ``netcore.datasets.build_image_dataset`` (``test_ratio``,
    ``seed``, ``normalization``, ``title``, ``limits``).
    """
    limits = kwargs.get("limits", UploadLimits())
    report = read_zip(data, zip_name, limits)
    title = kwargs.pop("title", Path(zip_name).stem)
    return build_image_dataset(report, _decoder(limits), input_shape, title=title, **kwargs)


def load_folder_dataset(
    folder: str | Path, input_shape: tuple[int, int, int] = (1, 28, 28), **kwargs
) -> tuple[Dataset, list[str]]:
    """A folder of class folders -> (Dataset, one sentence per skipped file)."""
    limits = kwargs.get("limits", UploadLimits())
    report = read_folder(folder, limits)
    title = kwargs.pop("title", Path(folder).name)
    return build_image_dataset(report, _decoder(limits), input_shape, title=title, **kwargs)


def _decoder(limits: UploadLimits):
    def decode(data: bytes, name: str) -> np.ndarray:
        return decode_image(data, name, max_pixels=limits.max_pixels, max_side=256)

    return decode
