"""Read the tensors of a ``torch.save`` checkpoint with numpy only, without running its code.

    state = read_state_dict("model.pth")   # {"conv1.weight": ndarray, ...}, in the file's order

Both formats torch writes are read: the zip archive (torch >= 1.6, ``<folder>/data.pkl`` plus
one raw little-endian record per storage in ``<folder>/data/``) and the legacy stream (magic
number, protocol version, sys_info, main pickle, storage key list, then ``int64 numel`` + raw
bytes per storage). torch is never imported. A pickle can call any importable function, so
the unpickler admits only the handful of globals a state_dict needs and maps each to a small
function of this module: nothing named by the file is imported or called.
"""

from __future__ import annotations

import collections
import os
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_RESAVE = "re-save it with torch.save(model.state_dict(), path)"

# torch storage type -> numpy dtype of its raw little-endian elements. bfloat16 has no numpy
# dtype: its 16-bit patterns are read as uint16 and widened to float32 (exact).
_STORAGE_DTYPES = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "BFloat16Storage": "<u2",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
    "UntypedStorage": "u1",  # torch reads an untyped storage as bytes
}


class CheckpointError(ValueError):
    """A file is not a readable torch checkpoint; the message names the file, problem and fix."""


class _Problem(Exception):
    """Raised while reading; read_state_dict adds the file name (and a default fix)."""

    def __init__(self, problem: str, fix: str = f"use a torch.save file or {_RESAVE}") -> None:
        super().__init__(f"{problem}; {fix}")


class _NoBuild:
    """Objects of this module: a pickle's BUILD (``__setstate__``) on them is refused."""

    def __setstate__(self, state: object) -> None:
        raise _Problem(f"the pickle sets the state of a {type(self).__name__[1:]} object")


@dataclass(frozen=True, eq=False)
class _StorageType(_NoBuild):
    """Marker standing for ``torch.<name>``; deliberately not callable."""

    name: str

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(_STORAGE_DTYPES[self.name])


@dataclass(eq=False)
class _Storage(_NoBuild):
    """One storage: ``numel`` elements of ``stype``; ``data`` is filled from the file later."""

    stype: _StorageType
    key: str
    numel: int
    data: np.ndarray | None = None
    base: _Storage | None = None  # legacy storage views: a slice of ``base`` from ``offset``
    offset: int = 0


@dataclass(eq=False)
class _TensorRef(_NoBuild):
    """A tensor to build once its storage's bytes are known (the legacy format stores them
    after the pickle)."""

    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


class _OrderedDict(collections.OrderedDict):
    """``collections.OrderedDict``; torch's BUILD with ``{"_metadata": ...}`` is dropped."""

    def __setstate__(self, state: object) -> None:
        pass  # module version metadata only: nothing a numpy reader needs


def _ints(value: object, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple | list) or not all(type(v) is int and v >= 0 for v in value):
        raise _Problem(f"tensor {what} {value!r} is not a tuple of non-negative ints")
    return tuple(value)


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored) -> _TensorRef:
    # *_ignored: requires_grad, backward_hooks and metadata of _rebuild_tensor_v2.
    if not isinstance(storage, _Storage) or type(storage_offset) is not int or storage_offset < 0:
        raise _Problem("a tensor's storage or storage offset is malformed")
    size, stride = _ints(size, "size"), _ints(stride, "stride")
    if len(size) != len(stride):
        raise _Problem(f"tensor size {size} and stride {stride} differ in length")
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad, backward_hooks) -> _TensorRef:
    if not isinstance(data, _TensorRef):
        raise _Problem("a Parameter wraps something other than a tensor")
    return data


_ADMITTED = {
    ("collections", "OrderedDict"): _OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
}


class _Unpickler(pickle.Unpickler):
    """Maps the admitted globals to this module's objects and storage ids to ``_Storage``.
    With ``legacy=None`` no global and no persistent id is admitted (the plain records)."""

    def __init__(self, file, legacy: bool | None) -> None:
        super().__init__(file, encoding="utf-8")
        self.legacy = legacy
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> object:
        # Every GLOBAL/STACK_GLOBAL/INST/OBJ/EXT goes through here: refusing stops the load
        # before the name is imported or anything it names is called.
        if self.legacy is None or (module, name) not in _ADMITTED:
            raise _Problem(
                f"the pickle names the global '{module}.{name}', which is not admitted (only "
                "tensor rebuild functions, storage types and collections.OrderedDict are)",
                "the file may be malicious or hold more than tensors: load it with torch only "
                f"if you trust it, and {_RESAVE}",
            )
        return _ADMITTED[module, name]

    def persistent_load(self, pid: object) -> _Storage:
        size = 6 if self.legacy else 5
        if self.legacy is None or not isinstance(pid, tuple) or len(pid) != size:
            raise _Problem(f"unexpected persistent id {str(pid)[:80]}")
        kind, stype, key, _location, numel = pid[:5]
        if (
            kind not in ("storage", b"storage")
            or not isinstance(stype, _StorageType)
            or not isinstance(key, str)
            or type(numel) is not int
            or numel < 0
        ):
            raise _Problem(f"malformed storage id {str(pid)[:80]}")
        storage = self.storages.setdefault(key, _Storage(stype, key, numel))
        if storage.stype is not stype or storage.numel != numel:
            raise _Problem(f"storage {key} is used with two different types or sizes")
        view = pid[5] if self.legacy else None
        if view is None:
            return storage
        view_key, offset, view_numel = view  # old torch: a slice of the root storage
        _ints((offset, view_numel), "storage view")
        if offset + view_numel > numel:
            raise _Problem(f"storage view {view_key} exceeds storage {key}")
        return _Storage(stype, view_key, view_numel, base=storage, offset=offset)


def _load_zip(archive: zipfile.ZipFile) -> object:
    """The unpickled ``data.pkl`` of a zip checkpoint, its storages filled from the records."""
    pkls = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pkls) != 1:
        raise _Problem(f"zip archive without exactly one <folder>/data.pkl ({len(pkls)} found)")
    folder = pkls[0][: -len("data.pkl")]
    names = set(archive.namelist())
    byteorder = "little"
    if folder + "byteorder" in names:
        byteorder = archive.read(folder + "byteorder").decode("ascii", "replace").strip()
    if byteorder not in ("little", "big"):
        raise _Problem(f"unknown byteorder record {byteorder!r}")
    with archive.open(pkls[0]) as f:
        unpickler = _Unpickler(f, legacy=False)
        obj = unpickler.load()
    for storage in unpickler.storages.values():
        name = f"{folder}data/{storage.key}"
        dtype = storage.stype.dtype.newbyteorder("<" if byteorder == "little" else ">")
        nbytes = storage.numel * dtype.itemsize
        if name not in names or archive.getinfo(name).file_size != nbytes:
            raise _Problem(f"storage record {name} is missing or not {nbytes} bytes")
        storage.data = np.frombuffer(archive.read(name), dtype)
    return obj


def _load_legacy(f) -> object:
    """The main pickle of a legacy stream, its storages filled from the data after it."""
    try:
        magic = _Unpickler(f, legacy=None).load()
    except _Problem:
        raise
    except Exception as e:
        raise _Problem(f"neither a zip archive nor a torch pickle stream ({e})") from None
    if magic != _LEGACY_MAGIC:
        raise _Problem("a pickle, but not a torch.save file (no torch magic number)")
    protocol = _Unpickler(f, legacy=None).load()
    if protocol != _LEGACY_PROTOCOL:
        raise _Problem(f"unsupported legacy protocol version {protocol!r}")
    _Unpickler(f, legacy=None).load()  # sys_info: storages are little-endian in any case
    unpickler = _Unpickler(f, legacy=True)
    obj = unpickler.load()
    keys = _Unpickler(f, legacy=None).load()
    if not isinstance(keys, list):
        raise _Problem("the storage key list after the main pickle is missing")
    end = os.fstat(f.fileno()).st_size
    for key in keys:
        storage = unpickler.storages.get(key)
        if storage is None:
            raise _Problem(f"storage key list entry {key!r} is not used by the pickle")
        head = f.read(8)
        numel = struct.unpack("<q", head)[0] if len(head) == 8 else -1
        nbytes = numel * storage.stype.dtype.itemsize
        if numel != storage.numel or f.tell() + nbytes > end:
            raise _Problem(
                f"storage {key}: the file ends early or records the wrong size (truncated?)",
                f"re-download the file or {_RESAVE}",
            )
        storage.data = np.frombuffer(f.read(nbytes), storage.stype.dtype)
    return obj


def _to_numpy(ref: _TensorRef) -> np.ndarray:
    storage, offset = ref.storage, ref.offset
    last = offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride))
    if 0 not in ref.size and last >= storage.numel:
        raise _Problem(
            f"a tensor of size {ref.size} needs element {last} of storage {storage.key}, "
            f"which has {storage.numel}"
        )
    if storage.base is not None:  # legacy view: index into its root storage
        storage, offset = storage.base, offset + storage.offset
    data = storage.data
    if data is None:
        raise _Problem(f"storage {storage.key} has no data in the file (truncated?)")
    # Strides are in elements; as_strided on the storage then a copy gives contiguous arrays
    # for any view (transposed, sliced, offset, shared storages).
    strides = tuple(s * data.itemsize for s in ref.stride)
    view = np.lib.stride_tricks.as_strided(data[offset:], ref.size, strides, writeable=False)
    if storage.stype.name == "BFloat16Storage":
        return (view.astype(np.uint32, order="C") << 16).view(np.float32)
    # astype copies (C order, even for transposed views) and byte-swaps big-endian data.
    return view.astype(data.dtype.newbyteorder("="), order="C")


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a ``torch.save``-d state_dict into numpy arrays, without torch and without
    executing code from the file.

    A top-level ``{"state_dict": {...}}`` wrapper is unwrapped (its other entries, such as
    "epoch" or "optimizer", are ignored, but they too may only use the admitted globals), and
    a leading ``module.`` (DataParallel) is removed from every key.

    Args:
        path: a checkpoint written by ``torch.save``, zip or legacy (pre-1.6) format.

    Returns:
        An ordered dict from key to a C-contiguous array of the stored dtype and shape (0-d
        tensors give 0-d arrays), keys in the file's order. float32/64/16, int64/32/16/8,
        uint8 and bool keep their dtype; bfloat16 is widened (exactly) to float32.

    Raises:
        CheckpointError: the file is missing, empty, truncated, not a torch checkpoint, names
            a global other than the tensor rebuild functions, storage types and
            ``collections.OrderedDict``, or holds non-tensor entries.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise _Problem("the file is empty")
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                obj = _load_zip(archive)
        else:
            with open(path, "rb") as f:
                if f.read(4) == b"PK\x03\x04":
                    raise _Problem(
                        "a zip archive without its central directory: truncated or damaged",
                        f"re-download the file or {_RESAVE}",
                    )
                f.seek(0)
                obj = _load_legacy(f)
        if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
            obj = obj["state_dict"]
        if not isinstance(obj, dict):
            raise _Problem(f"the checkpoint holds a {type(obj).__name__}, not a state_dict")
        state: dict[str, np.ndarray] = collections.OrderedDict()
        for key, value in obj.items():
            if not isinstance(key, str) or not isinstance(value, _TensorRef):
                raise _Problem(f"entry {key!r} is a {type(value).__name__}, not a tensor")
            name = key.removeprefix("module.")
            if name in state:
                raise _Problem(f"key {name!r} occurs twice once 'module.' is removed")
            state[name] = _to_numpy(value)
        return state
    except _Problem as e:
        raise CheckpointError(f"{path}: {e}") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read the file ({e}); check the path") from None
    except Exception as e:  # EOFError, UnpicklingError, TypeError, zipfile.BadZipFile, ...
        raise CheckpointError(
            f"{path}: truncated or malformed checkpoint ({type(e).__name__}: {e}); "
            f"re-download the file or {_RESAVE}"
        ) from None
