"""Output paths, checked before the work that writes them: a bad path fails in seconds,
not after training or conversion, and every message names the path."""

from __future__ import annotations

import os
from pathlib import Path


def file_in_the_way(path: Path) -> Path | None:
    """The nearest existing one of ``path`` and its parents, if it is not a directory."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def check_output_dir(path: str | os.PathLike) -> Path:
    """``path`` as a ``Path``; raises unless it is a directory or can be made one.

    Raises:
        NotADirectoryError: ``path``, or a parent of it, is a file.
    """
    path = Path(path)
    blocker = file_in_the_way(path)
    if blocker == path:
        raise NotADirectoryError(
            f"{path} is a file, not a directory. Fix: give a directory (new or existing)."
        )
    if blocker is not None:
        raise NotADirectoryError(
            f"Cannot make the directory {path}: {blocker} is a file. Fix: give a directory "
            "path that does not pass through a file."
        )
    return path


def check_output_file(
    path: str | os.PathLike, inputs: tuple[str | os.PathLike, ...] = (), suffix: str = ""
) -> Path:
    """``path`` as a ``Path``; raises unless a file can be written there without
    overwriting one of ``inputs`` or writing inside one that is a directory (a run
    directory is read, never changed), and it ends in ``suffix`` (so that it cannot
    replace a file of another kind).

    Raises:
        IsADirectoryError: ``path`` is a directory.
        NotADirectoryError: a parent of ``path`` is a file.
        FileNotFoundError: the directory of ``path`` does not exist.
        ValueError: ``path`` is one of ``inputs`` or lies inside one, or does not end in
            ``suffix``.
    """
    path = Path(path)
    if not path.name.endswith(suffix):
        raise ValueError(
            f"Cannot write {path}: the file name must end in {suffix}. Fix: e.g. "
            f"{path.with_suffix(suffix).name}."
        )
    if path.is_dir():
        raise IsADirectoryError(
            f"Cannot write the file {path}: it is a directory. Fix: give a file path."
        )
    blocker = file_in_the_way(path.parent)
    if blocker is not None:
        raise NotADirectoryError(f"Cannot write {path}: {blocker} is a file, not a directory.")
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"Cannot write {path}: its directory {path.parent} does not exist. Fix: create it "
            "first."
        )
    for source in map(Path, inputs):
        if not source.exists():
            continue
        if path.resolve() == source.resolve():
            raise ValueError(
                f"Cannot write {path}: it is the input {source}, which it would overwrite. "
                "Fix: give another output path."
            )
        if source.is_dir() and path.resolve().is_relative_to(source.resolve()):
            raise ValueError(
                f"Cannot write {path}: it lies inside the input directory {source}, which "
                f"is only read. Fix: write it outside, e.g. {source.resolve().parent / path.name}."
            )
    return path


def write_atomic(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a kill mid-write leaves the old file (or none)."""
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    os.replace(partial, path)
