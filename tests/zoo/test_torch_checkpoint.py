"""The torch-free checkpoint reader on the official-layout fixture (both torch.save formats)
and on checkpoints written here opcode by opcode: wrappers, views, dtypes, malicious and
damaged files. torch is not needed."""

import collections
import pathlib
import pickle
import struct
import zipfile
from dataclasses import dataclass

import numpy as np
import pytest

from ebn_tf.zoo.files import sha256
from ebn_tf.zoo.torch_checkpoint import CheckpointError, read_state_dict

FIXTURE = pathlib.Path(__file__).parents[1] / "fixtures" / "ebnet_official_tiny"
ZIP_FILE, LEGACY_FILE = FIXTURE / "state_dict.pth", FIXTURE / "state_dict_legacy.pth"
SHA256 = {
    ZIP_FILE: "43636f5fdf77202132b9017e10e7bad88a6ba5f6e5ca6fb7b2f79ffcc13bcb8a",
    LEGACY_FILE: "a1d3af64339200f16d67f643ed1b11b17a069084ba0d28bca7ed253a82f1d24b",
}


@pytest.fixture(scope="module")
def fixture_states():
    return read_state_dict(ZIP_FILE), read_state_dict(LEGACY_FILE)


# --- a minimal protocol-2 pickle writer: globals are written by name, never imported ---


@dataclass
class Global:
    module: str
    name: str


@dataclass
class Call:  # REDUCE: func(*args)
    func: object
    args: tuple


@dataclass
class PersId:  # BINPERSID: the reader's persistent_load(pid)
    pid: tuple


@dataclass
class Build:  # BUILD: obj.__setstate__(state)
    obj: object
    state: object


def _body(obj) -> bytes:
    if isinstance(obj, Global):
        return f"c{obj.module}\n{obj.name}\n".encode()
    if isinstance(obj, Call):
        return _body(obj.func) + _body(tuple(obj.args)) + b"R"
    if isinstance(obj, PersId):
        return _body(obj.pid) + b"Q"
    if isinstance(obj, Build):
        return _body(obj.obj) + _body(obj.state) + b"b"
    if isinstance(obj, dict):
        return b"}" + b"".join(_body(k) + _body(v) + b"s" for k, v in obj.items())
    if isinstance(obj, tuple):
        return b"(" + b"".join(_body(v) for v in obj) + b"t"
    if isinstance(obj, list):
        return b"]" + b"".join(_body(v) + b"a" for v in obj)
    return pickle.dumps(obj, protocol=2)[2:-1]  # a leaf: drop PROTO and STOP


def dumps(obj) -> bytes:
    return b"\x80\x02" + _body(obj) + b"."


def ordered_dict(items=()):
    return Call(Global("collections", "OrderedDict"), (list(items),) if items else ())


def tensor(storage: tuple, offset: int, size: tuple, stride: tuple):
    """``storage`` is a persistent id tuple as torch writes it."""
    rebuild = Global("torch._utils", "_rebuild_tensor_v2")
    return Call(rebuild, (PersId(storage), offset, size, stride, False, ordered_dict()))


def storage_id(key: str, numel: int, kind="Float", legacy=False, view=None):
    pid = ("storage", Global("torch", f"{kind}Storage"), key, "cpu", numel)
    return pid + (view,) if legacy else pid


def write_zip(path, obj, storages: dict[str, bytes], byteorder=b"little"):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", dumps(obj))
        z.writestr("archive/byteorder", byteorder)
        for key, raw in storages.items():
            z.writestr(f"archive/data/{key}", raw)
    return path


def write_legacy(path, obj, storages: dict[str, tuple[int, bytes]]):
    """``storages``: key -> (numel, raw bytes), in the order of the key list."""
    sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"long": 4}}
    parts = [pickle.dumps(v, protocol=2) for v in (0x1950A86A20F9469CFC6C, 1001, sys_info)]
    parts += [dumps(obj), pickle.dumps(list(storages), protocol=2)]
    parts += [struct.pack("<q", n) + raw for n, raw in storages.values()]
    path.write_bytes(b"".join(parts))
    return path


def write(fmt, path, obj, storages: dict[str, np.ndarray]):
    """Writes ``obj`` whose storage ids were made with ``legacy=(fmt == "legacy")``."""
    if fmt == "zip":
        return write_zip(path, obj, {k: a.tobytes() for k, a in storages.items()})
    return write_legacy(path, obj, {k: (a.size, a.tobytes()) for k, a in storages.items()})


def refused(path) -> str:
    with pytest.raises(CheckpointError) as info:
        read_state_dict(path)
    assert str(path) in str(info.value)
    return str(info.value)


# --- the fixture ---


def test_fixture_formats_agree(fixture_states):
    new, legacy = fixture_states
    assert len(new) == 250 and list(new) == list(legacy)
    for key, array in new.items():
        other = legacy[key]
        assert (array.dtype, array.shape) == (other.dtype, other.shape), key
        assert array.tobytes() == other.tobytes(), key
        assert array.flags.c_contiguous and array.flags.writeable
    dtypes = collections.Counter(a.dtype.name for a in new.values())
    assert dtypes == {"float32": 226, "int64": 24}
    assert sum(a.size for a in new.values()) == 437_746


def test_fixture_shapes_and_values(fixture_states):
    state = fixture_states[0]
    assert list(state)[:2] == ["conv1.0.weight", "conv1.1.weight"]
    assert state["conv1.0.weight"].shape == (32, 3, 3, 3)
    # (experts, out, in / groups, kh, kw), groups = 2
    assert state["layer1.0.conv1.weight"].shape == (4, 32, 32, 3, 3)
    assert state["layer1.0.conv2.weight"].shape == (4, 32, 16, 3, 3)
    assert state["layer1.0.conv1.alpha2"].shape == (1, 32, 1, 1)
    counters = [k for k in state if k.endswith("num_batches_tracked")]
    assert len(counters) == 24
    for key in counters:
        assert state[key].dtype == np.int64 and state[key].shape == () and state[key] == 0
    # The README's fill ranges: wrong bytes or strides would not stay inside them.
    for key, array in state.items():
        if key.endswith("running_var"):
            assert array.min() >= 0.5 and array.max() < 2.0, key
        if key.endswith("alpha2"):
            assert array.min() >= 0.01 and array.max() < 0.06, key


def test_fixture_sha256():
    readme = (FIXTURE / "README.md").read_text()
    for path, digest in SHA256.items():
        assert digest in readme
        assert sha256(path) == digest


# --- crafted checkpoints ---


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_wrapper_and_module_prefix(tmp_path, fmt):
    legacy = fmt == "legacy"
    weights, counter = np.arange(6, dtype=np.float32), np.array([7], dtype=np.int64)
    state = ordered_dict(
        [
            ("module.fc.weight", tensor(storage_id("0", 6, legacy=legacy), 0, (2, 3), (3, 1))),
            ("module.bn.num", tensor(storage_id("1", 1, "Long", legacy), 0, (), ())),
        ]
    )
    wrapper = {"epoch": 3, "state_dict": state, "optimizer": {"lr": 0.1, "momentum": [0.9]}}
    path = write(fmt, tmp_path / "ckpt.pth", wrapper, {"0": weights, "1": counter})
    result = read_state_dict(path)
    assert list(result) == ["fc.weight", "bn.num"]
    np.testing.assert_array_equal(result["fc.weight"], weights.reshape(2, 3))
    assert result["bn.num"].shape == () and result["bn.num"].dtype == np.int64
    assert result["bn.num"] == 7


def test_fixture_rewrapped(tmp_path, fixture_states):
    """The fixture's own data.pkl inside a DataParallel-style wrapper reads the same."""
    with zipfile.ZipFile(ZIP_FILE) as z:
        names = z.namelist()
        # Splice the fixture's pickle body (between PROTO and STOP) into a wrapper dict.
        body = z.read("state_dict/data.pkl")[2:-1]
        wrapped = b"\x80\x02}" + _body("state_dict") + body + b"s" + _body("epoch") + b"K\x05s."
        with zipfile.ZipFile(tmp_path / "wrapped.pth", "w") as out:
            for name in names:
                out.writestr(name, wrapped if name.endswith("data.pkl") else z.read(name))
    result = read_state_dict(tmp_path / "wrapped.pth")
    assert list(result) == list(fixture_states[0])
    assert all(np.array_equal(result[k], v) for k, v in fixture_states[0].items())


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_views_share_storage(tmp_path, fmt):
    legacy = fmt == "legacy"
    base = np.arange(12, dtype=np.float32)
    pid = storage_id("s", 12, legacy=legacy)
    state = ordered_dict(
        [
            ("transposed", tensor(pid, 2, (3, 2), (1, 3))),  # offset 2, transposed strides
            ("every_third", tensor(pid, 0, (4,), (3,))),
            ("last", tensor(pid, 11, (), ())),
            ("broadcast", tensor(pid, 5, (2, 2), (0, 1))),
            ("empty", tensor(pid, 12, (0, 4), (4, 1))),
        ]
    )
    result = read_state_dict(write(fmt, tmp_path / "views.pth", state, {"s": base}))
    np.testing.assert_array_equal(result["transposed"], base[2:8].reshape(2, 3).T)
    np.testing.assert_array_equal(result["every_third"], [0, 3, 6, 9])
    assert result["last"].shape == () and result["last"] == 11
    np.testing.assert_array_equal(result["broadcast"], [[5, 6], [5, 6]])
    assert result["empty"].shape == (0, 4)
    for array in result.values():
        assert array.flags.c_contiguous and array.flags.writeable and array.base is None


def test_legacy_storage_view(tmp_path):
    """Pre-1.0 files could reference a slice of a storage (view_metadata)."""
    base = np.arange(12, dtype=np.float32)
    pid = storage_id("root", 12, legacy=True, view=("v", 4, 6))
    state = ordered_dict([("w", tensor(pid, 1, (2,), (1,)))])
    result = read_state_dict(
        write_legacy(tmp_path / "v.pth", state, {"root": (12, base.tobytes())})
    )
    np.testing.assert_array_equal(result["w"], [5, 6])
    too_long = ordered_dict([("w", tensor(pid, 1, (6,), (1,)))])  # leaves the 6-element view
    assert "needs element 6" in refused(
        write_legacy(tmp_path / "v2.pth", too_long, {"root": (12, base.tobytes())})
    )


@pytest.mark.parametrize(
    "kind, dtype",
    [
        ("Double", np.float64),
        ("Half", np.float16),
        ("Int", np.int32),
        ("Short", np.int16),
        ("Char", np.int8),
        ("Byte", np.uint8),
        ("Bool", np.bool_),
    ],
)
def test_dtypes(tmp_path, kind, dtype):
    values = np.array([0, 1, 1, 0, 1, 1], dtype=dtype)
    state = ordered_dict([("x", tensor(storage_id("0", 6, kind), 0, (3, 2), (2, 1)))])
    result = read_state_dict(write_zip(tmp_path / "d.pth", state, {"0": values.tobytes()}))
    assert result["x"].dtype == dtype
    np.testing.assert_array_equal(result["x"], values.reshape(3, 2))


def test_bfloat16_widened_and_big_endian(tmp_path):
    values = np.array([1.5, -2.0, 3.25, 1e-3], dtype=np.float32)
    bits = (values.view(np.uint32) >> 16).astype("<u2")  # bfloat16 = top 16 bits
    state = ordered_dict([("x", tensor(storage_id("0", 4, "BFloat16"), 0, (4,), (1,)))])
    result = read_state_dict(write_zip(tmp_path / "bf.pth", state, {"0": bits.tobytes()}))
    assert result["x"].dtype == np.float32
    np.testing.assert_array_equal(result["x"], (bits.astype(np.uint32) << 16).view(np.float32))
    # A checkpoint written on a big-endian machine is byte-swapped to native order.
    state = ordered_dict([("x", tensor(storage_id("0", 4), 0, (4,), (1,)))])
    raw = values.astype(">f4").tobytes()
    path = write_zip(tmp_path / "be.pth", state, {"0": raw}, byteorder=b"big")
    result = read_state_dict(path)
    assert result["x"].dtype == np.dtype("=f4")
    np.testing.assert_array_equal(result["x"], values)


# --- malicious files: refused before anything is called ---


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_refuses_os_system(tmp_path, fmt):
    marker = tmp_path / "pwned"
    payload = Call(Global("os", "system"), (f"touch {marker}",))
    state = ordered_dict([("w", tensor(storage_id("0", 1, legacy=fmt == "legacy"), 0, (), ()))])
    obj = {"state_dict": state, "epoch": payload}
    path = write(fmt, tmp_path / "evil.pth", obj, {"0": np.zeros(1, np.float32)})
    assert "'os.system'" in refused(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "module, name, args",
    [
        ("builtins", "eval", ("1 + 1",)),
        ("subprocess", "Popen", (["true"],)),
        ("numpy.core.multiarray", "_reconstruct", ()),
        ("torch", "load", ("x",)),
        ("torch._utils", "_rebuild_parameter_with_state", ()),
    ],
)
def test_refuses_other_globals(tmp_path, module, name, args):
    path = write_zip(tmp_path / "evil.pth", {"x": Call(Global(module, name), args)}, {})
    assert f"'{module}.{name}'" in refused(path)


def test_refuses_build_and_calling_markers(tmp_path):
    pid = storage_id("0", 1)
    raw = {"0": np.zeros(1, np.float32).tobytes()}
    # BUILD (__setstate__) on a tensor: torch never writes it for a state_dict tensor.
    built = ordered_dict([("w", Build(tensor(pid, 0, (), ()), {"__class__": "x"}))])
    assert "sets the state" in refused(write_zip(tmp_path / "b.pth", built, raw))
    # A storage type is a marker, not a callable.
    called = ordered_dict([("w", Call(Global("torch", "FloatStorage"), (1,)))])
    refused(write_zip(tmp_path / "c.pth", called, raw))
    # Only tensors may be entries of the state_dict.
    assert "not a tensor" in refused(write_zip(tmp_path / "d.pth", {"w": 1.5}, {}))


# --- damaged files ---


@pytest.mark.parametrize("source", [ZIP_FILE, LEGACY_FILE])
@pytest.mark.parametrize("keep", [0.5, 0.01])
def test_truncated(tmp_path, source, keep):
    data = source.read_bytes()
    path = tmp_path / source.name
    path.write_bytes(data[: int(len(data) * keep)])
    refused(path)


def test_not_checkpoints(tmp_path):
    files = {
        "empty.pth": b"",
        "random.pth": np.random.default_rng(0).bytes(4096),
        "text.pth": b"# a README, not weights\n\nhello\n",
        "pickled_int.pth": pickle.dumps(42, protocol=2),
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
        refused(tmp_path / name)
    assert "is empty" in refused(tmp_path / "empty.pth")
    assert "cannot read" in refused(tmp_path / "missing.pth")


def test_zip_problems(tmp_path):
    with zipfile.ZipFile(tmp_path / "nopkl.pth", "w") as z:
        z.writestr("archive/data/0", b"\0" * 4)
    assert "data.pkl" in refused(tmp_path / "nopkl.pth")
    state = ordered_dict([("w", tensor(storage_id("0", 4), 1, (2, 2), (2, 1)))])
    values = np.zeros(4, np.float32).tobytes()
    # The tensor needs element 1 + 1*2 + 1*1 = 4 of a 4-element storage.
    assert "needs element 4" in refused(write_zip(tmp_path / "short.pth", state, {"0": values}))
    # The record holds fewer bytes than its storage id announces.
    assert "not 16 bytes" in refused(write_zip(tmp_path / "rec.pth", state, {"0": values[:8]}))
    assert "not 16 bytes" in refused(write_zip(tmp_path / "none.pth", state, {}))
    path = write_zip(tmp_path / "odd.pth", state, {"0": values}, byteorder=b"middle")
    assert "byteorder" in refused(path)


def test_legacy_problems(tmp_path):
    state = ordered_dict([("w", tensor(storage_id("0", 4, legacy=True), 0, (4,), (1,)))])
    values = np.zeros(4, np.float32).tobytes()
    wrong_count = write_legacy(tmp_path / "count.pth", state, {"0": (5, values)})
    assert "storage 0" in refused(wrong_count)
    unused_key = write_legacy(tmp_path / "key.pth", state, {"9": (4, values)})
    assert "'9'" in refused(unused_key)
