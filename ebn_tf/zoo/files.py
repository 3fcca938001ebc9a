"""Verified downloads of zoo files into a local cache, from the default host or a mirror."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
from pathlib import Path

from absl import logging

from ebn_tf._keras import keras
from ebn_tf.outputs import file_in_the_way
from ebn_tf.zoo.registry import KINDS, ZooFile, get

CACHE_ENV = "EBN_ZOO_CACHE"
MIRROR_ENV = "EBN_ZOO_MIRROR"


def _checked_cache(root: Path, fix: str) -> Path:
    """``root``, unless it is, or lies under, a file: then an error naming both and ``fix``
    (how to choose another cache, which depends on what chose this one)."""
    blocker = file_in_the_way(root)
    if blocker is not None:
        raise NotADirectoryError(
            f"The zoo cache {root} cannot be a directory: {blocker} is a file. Fix: {fix}."
        )
    return root


def cache_dir() -> Path:
    """``$EBN_ZOO_CACHE``, else ``ebn_tf_zoo`` in the Keras cache dir (``$KERAS_HOME`` or
    ``~/.keras``).

    Raises:
        NotADirectoryError: that path is, or lies under, a file (the message names the
            environment variable to change).
    """
    if value := os.environ.get(CACHE_ENV):
        return _checked_cache(
            Path(value).expanduser(),
            f"point {CACHE_ENV} (now {value}) at a directory, or unset it to use the Keras "
            "cache dir",
        )
    keras_home = Path(os.environ.get("KERAS_HOME") or "~/.keras").expanduser()
    return _checked_cache(keras_home / "ebn_tf_zoo", f"set {CACHE_ENV} to a directory")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def source_url(file: ZooFile, mirror: str | os.PathLike | None = None) -> str:
    """Where to fetch ``file``: the same file name at ``mirror`` (a base URL or a local
    directory; default ``$EBN_ZOO_MIRROR``), else the file's own url on the default host.
    Every source is sha256-verified."""
    mirror = mirror or os.environ.get(MIRROR_ENV)
    if not mirror:
        return file.url
    mirror = str(mirror)
    if "://" not in mirror:
        return Path(mirror).expanduser().resolve().joinpath(file.filename).as_uri()
    return f"{mirror.rstrip('/')}/{file.filename}"


def download(
    name: str, kind: str = "keras", mirror: str | os.PathLike | None = None, cache=None
) -> Path:
    """The local path of zoo model ``name``'s ``kind`` file (``"keras"`` weights or
    ``"tflite"``), downloaded and sha256-verified unless the cache already holds it.

    A download goes to a hidden ``.partial-*`` directory inside the cache and is moved in
    only once its size and hash match, so a failed, corrupt or interrupted (exception,
    Ctrl-C) download leaves nothing behind; only a killed process can leave its hidden
    directory, which is never taken for a cached file. A cached file whose hash no
    longer matches is replaced. ``cache`` (default ``cache_dir()``) must be a directory
    or a path where one can be made: else ``NotADirectoryError`` names the file in the way.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
    entry = get(name)
    if kind not in entry.files:
        raise ValueError(
            f"Zoo model {name!r} has no published {kind} file: it was not trained here. "
            f"Train it with: {entry.command}"
        )
    file = entry.files[kind]
    if cache is None:
        root = cache_dir()
    else:
        root = _checked_cache(Path(cache), "give cache= a directory")
    target = root / file.filename
    if target.exists():
        if sha256(target) == file.sha256:
            return target
        logging.warning("Cached %s does not match its sha256; downloading it again.", target)
        target.unlink()
    root.mkdir(parents=True, exist_ok=True)
    url = source_url(file, mirror)
    with tempfile.TemporaryDirectory(dir=root, prefix=".partial-") as staging:
        try:
            # Keras prints its progress bar to stdout; keep stdout for results.
            with contextlib.redirect_stdout(sys.stderr):
                fetched = keras.utils.get_file(
                    file.filename, url, cache_dir=staging, cache_subdir="", file_hash=None
                )
        except Exception as error:
            raise OSError(
                f"Could not download {url}: {error}. Fix: check the network, or point "
                f"{MIRROR_ENV} (or mirror=) at a base URL or local directory holding "
                f"{file.filename}."
            ) from error
        size = Path(fetched).stat().st_size
        if size != file.bytes:
            raise OSError(
                f"Incomplete download of {url}: {size:,} of {file.bytes:,} bytes. Nothing was "
                "cached. Fix: retry, or check the mirror's copy."
            )
        actual = sha256(Path(fetched))
        if actual != file.sha256:
            raise OSError(
                f"{url} is corrupt or not the published file: sha256 {actual}, expected "
                f"{file.sha256}. Nothing was cached. Fix: retry, or check the mirror's copy."
            )
        os.replace(fetched, target)
    return target
