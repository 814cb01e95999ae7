"""A small dataset from the user's own images: a .zip or a folder of class-named subfolders.

    my_pets.zip
      cat/   01.jpg 02.png ...
      dog/   a.jpg b.jpg ...

The folder names become the class names (sorted). An archive may also wrap everything in one
top folder (``my_pets/cat/...``). Every image is resized to the model's input shape (padded to
its aspect ratio first, so nothing is stretched or cut): mixed sizes are normal and fine.

Archives come from strangers, so they are read defensively, in memory, never extracted:

* before reading a byte of content we check the number of files, each file's declared size, the
  total, and the compression ratio (a "zip bomb" is a tiny archive that inflates to gigabytes);
* each member is read with a hard cap, so a member lying about its size still cannot exceed it;
* a path that climbs out of the archive (``../x``, ``/etc/x``, ``C:\\x``) refuses the whole
  archive: it was made to attack an extractor.

Problems with single files (not an image, too large, outside a class folder) skip that file and
are reported by name; problems with the archive, or too few images left in a class, raise
`DatasetError` naming the archive or the class.

Decoding is done by the caller's ``decode(data, name) -> uint8 array`` (the app uses Pillow;
the engine itself does not decode image formats).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from netcore.datasets.catalog import make_dataset
from netcore.datasets.core import Dataset, DatasetError, own_images_info
from netcore.datasets.images import match_channels, pad_to_aspect, resize, to_unit
from netcore.datasets.split import stratified_split

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp"}
_JUNK = {"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"}


@dataclass(frozen=True)
class UploadLimits:
    """Caps that keep one upload from exhausting the server's memory or time."""

    max_files: int = 5000
    max_file_bytes: int = 20_000_000
    max_total_bytes: int = 200_000_000
    max_ratio: float = 200.0  # uncompressed / compressed, for members above 1 MB
    max_pixels: int = 40_000_000  # per image, checked by the decoder before decoding
    min_per_class: int = 4  # at least 3 to train on and 1 to test


@dataclass
class ImageFile:
    """One file of an upload: its class folder, its path (for messages) and its bytes."""

    label: str
    name: str
    data: bytes


@dataclass
class UploadReport:
    """Files read and files skipped, each skip with a sentence naming the file."""

    files: list[ImageFile] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _is_unsafe(name: str) -> bool:
    """True for absolute paths, drive letters and any ``..`` component."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        return True
    return ".." in PurePosixPath(posix).parts


def _class_and_file(parts: tuple[str, ...]) -> tuple[str, str] | None:
    """Class folder and file name from path parts (top folder already stripped)."""
    if len(parts) != 2:
        return None
    return parts[0], parts[1]


def _strip_top_folder(paths: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Drop one folder level that wraps everything (``my_pets/cat/1.png`` -> ``cat/1.png``)."""
    tops = {p[0] for p in paths}
    if len(tops) == 1 and any(len(p) >= 3 for p in paths):
        return [p[1:] for p in paths]
    return paths


def _wanted(parts: tuple[str, ...]) -> bool:
    return not any(p in _JUNK or p.startswith(".") for p in parts)


def read_zip(data: bytes, zip_name: str, limits: UploadLimits = UploadLimits()) -> UploadReport:
    """Read the image files of a class-folder zip into memory, with the checks above."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise DatasetError(f"{zip_name} is not a readable .zip archive ({e}).") from e
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        for m in zf.infolist():
            if _is_unsafe(m.filename):
                raise DatasetError(
                    f"{zip_name} was refused: it contains the path '{m.filename}', which points "
                    "outside the archive's folder. Make a new zip of just your class folders."
                )
        _check_sizes(members, zip_name, limits)
        report = UploadReport()
        members = [m for m in members if _wanted(PurePosixPath(m.filename).parts)]
        parts = _strip_top_folder([PurePosixPath(m.filename).parts for m in members])
        for m, p in zip(members, parts, strict=True):
            where = _class_and_file(p)
            if where is None:
                report.problems.append(
                    f"{m.filename} (in {zip_name}) is not directly inside a class folder; skipped."
                )
                continue
            if Path(m.filename).suffix.lower() not in IMAGE_SUFFIXES:
                report.problems.append(f"{m.filename} is not a PNG/JPEG/GIF/BMP/WebP; skipped.")
                continue
            with zf.open(m) as f:
                content = f.read(limits.max_file_bytes + 1)  # a hard cap, whatever the header
            if len(content) > limits.max_file_bytes:
                raise DatasetError(f"{zip_name} was refused: {m.filename} inflates past its size.")
            report.files.append(ImageFile(where[0], m.filename, content))
    return report


def _check_sizes(members: list[zipfile.ZipInfo], zip_name: str, limits: UploadLimits) -> None:
    if len(members) > limits.max_files:
        raise DatasetError(
            f"{zip_name} holds {len(members):,} files; the limit is {limits.max_files:,}. "
            "Use fewer images per class."
        )
    total = sum(m.file_size for m in members)
    if total > limits.max_total_bytes:
        raise DatasetError(
            f"{zip_name} would unpack to {total / 1e6:,.0f} MB; the limit is "
            f"{limits.max_total_bytes / 1e6:,.0f} MB. Use fewer or smaller images."
        )
    for m in members:
        if m.file_size > limits.max_file_bytes:
            raise DatasetError(
                f"{m.filename} in {zip_name} is {m.file_size / 1e6:,.0f} MB; the limit per "
                f"image is {limits.max_file_bytes / 1e6:,.0f} MB."
            )
        ratio = m.file_size / max(m.compress_size, 1)
        if m.file_size > 1_000_000 and ratio > limits.max_ratio:
            raise DatasetError(
                f"{zip_name} was refused: {m.filename} is compressed {ratio:,.0f} to 1, which "
                "no photo is (this looks like a zip bomb)."
            )


def read_folder(folder: str | Path, limits: UploadLimits = UploadLimits()) -> UploadReport:
    """Read the image files of ``folder/<class>/<image>`` (links leaving the folder skipped)."""
    root = Path(folder).resolve()
    if not root.is_dir():
        raise DatasetError(f"{folder} is not a folder.")
    report, total = UploadReport(), 0
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and _wanted((p.name,))):
        for path in sorted(class_dir.iterdir()):
            shown = f"{class_dir.name}/{path.name}"
            if not path.is_file() or not _wanted((path.name,)):
                continue
            if root not in path.resolve().parents:
                report.problems.append(f"{shown} links outside the folder; skipped.")
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                report.problems.append(f"{shown} is not a PNG/JPEG/GIF/BMP/WebP; skipped.")
                continue
            size = path.stat().st_size
            if size > limits.max_file_bytes:
                report.problems.append(f"{shown} is {size / 1e6:,.0f} MB, too large; skipped.")
                continue
            total += size
            if total > limits.max_total_bytes or len(report.files) >= limits.max_files:
                raise DatasetError(f"{folder} holds too many images; use fewer per class.")
            report.files.append(ImageFile(class_dir.name, shown, path.read_bytes()))
    return report


def build_image_dataset(
    report: UploadReport,
    decode: Callable[[bytes, str], np.ndarray],
    input_shape: tuple[int, int, int] = (1, 28, 28),
    *,
    title: str = "My images",
    test_ratio: float = 0.2,
    seed: int = 0,
    normalization: str = "0-1",
    limits: UploadLimits = UploadLimits(),
) -> tuple[Dataset, list[str]]:
    """Decode, resize and split uploaded files into a `Dataset`.

    Parameters
    ----------
    report : UploadReport
        From `read_zip` or `read_folder`.
    decode : callable
        ``decode(data, name) -> uint8 (H, W) or (H, W, C)``; raises `DatasetError` for a bad
        file (the file is then skipped and its message kept).
    input_shape : (C, H, W)
        Every image is converted to this shape.

    Returns
    -------
    dataset : Dataset
    problems : list of str
        One sentence per skipped file.
    """
    c, h, w = input_shape
    problems = list(report.problems)
    images: dict[str, list[np.ndarray]] = {}
    for f in report.files:
        try:
            pixels = decode(f.data, f.name)
            x = match_channels(to_unit(pixels, f.name), c)
        except DatasetError as e:
            problems.append(f"{e} Skipped.")
            continue
        x = resize(pad_to_aspect(x, h, w), h, w)
        images.setdefault(f.label, []).append(np.round(np.clip(x, 0, 1) * 255).astype(np.uint8))
    names = sorted(images)
    few = [f"'{n}' ({len(images[n])})" for n in names if len(images[n]) < limits.min_per_class]
    if few:
        raise DatasetError(
            f"Too few images in the class folders {', '.join(few)}: each class needs at least "
            f"{limits.min_per_class} readable images (some for training, some for testing)."
        )
    if len(names) < 2:
        found = f"only the class '{names[0]}'" if names else "no readable images"
        raise DatasetError(
            f"Found {found}. Put the images in at least two class folders (e.g. cat/, dog/)."
        )
    raw = np.stack([np.moveaxis(x, -1, 0) for n in names for x in images[n]])  # (N, C, H, W)
    y = np.concatenate([np.full(len(images[n]), k, dtype=np.int64) for k, n in enumerate(names)])
    train_idx, test_idx = stratified_split(y, test_ratio, np.random.default_rng(seed))
    info = own_images_info("custom", title, names, (c, h, w), len(train_idx), len(test_idx))
    ds = make_dataset(info, raw[train_idx], y[train_idx], raw[test_idx], y[test_idx], normalization)
    return ds, problems
