"""The zoo client against a real HTTP server on 127.0.0.1 serving the published files."""

import contextlib
import functools
import http.server
import os
import pathlib
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

import ebn_tf.zoo as zoo
from ebn_tf import data, export, layers, models
from ebn_tf.apps.checkout import zoo_mirror
from ebn_tf.apps.sources import parity_pool
from ebn_tf.models import presets
from ebn_tf.zoo.loading import top1
from tests.harness import idx_items

ZOO_DIR = pathlib.Path(__file__).parents[2] / "zoo"
PUBLISHED = ("ebnet_fmnist", "binary_fmnist_baseline", "ebnet_fmnist_long")


def stored(data_dir, split: str = "test", limit: int | None = None):
    """``split`` of Fashion-MNIST as stored (neither shuffled nor augmented), as
    ``ebn-zoo evaluate`` reads it."""
    return data.load(
        "fashion_mnist", split, 500, data_dir=data_dir, shuffle=False, augment=False, take=limit
    )


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class TruncatingHandler(QuietHandler):
    """Announces the whole file, sends half of it and hangs up (an interrupted download)."""

    def do_GET(self):
        body = (pathlib.Path(self.directory) / self.path.lstrip("/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])


@contextlib.contextmanager
def serve(directory, handler=QuietHandler):
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv(zoo.CACHE_ENV, str(root))
    monkeypatch.delenv(zoo.MIRROR_ENV, raising=False)
    return root


def cached_files(root: pathlib.Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_registry_lists_the_published_models_with_their_files():
    assert set(PUBLISHED) <= set(zoo.names())
    for name in PUBLISHED:
        entry = zoo.get(name)
        assert entry.trained_here and set(entry.files) == {"keras", "tflite"}
        for file in entry.files.values():
            assert len(file.sha256) == 64 and (ZOO_DIR / file.filename).stat().st_size == file.bytes
        assert (ZOO_DIR / f"{name}.md").exists()
    imagenet = zoo.get("ebnet_imagenet")
    assert not imagenet.trained_here and not imagenet.files
    with pytest.raises(ValueError, match="not trained here.*ebn-train --recipe imagenet"):
        zoo.download("ebnet_imagenet")


def test_download_verifies_and_caches_then_works_without_the_server(cache):
    with serve(ZOO_DIR) as url:
        path = zoo.download("ebnet_fmnist", "tflite", mirror=url)
    assert (
        path.parent == cache
        and zoo.files.sha256(path) == zoo.get("ebnet_fmnist").files["tflite"].sha256
    )
    # The server is gone: the cache answers, whatever the mirror.
    assert zoo.download("ebnet_fmnist", "tflite", mirror="http://127.0.0.1:9") == path
    assert cached_files(cache) == [path.name]


def test_local_directory_mirror_from_the_environment(cache, monkeypatch):
    monkeypatch.setenv(zoo.MIRROR_ENV, str(ZOO_DIR))
    path = zoo.download("binary_fmnist_baseline", "keras")
    assert path.read_bytes() == (ZOO_DIR / path.name).read_bytes()


def test_apps_default_to_the_checkout_folder_and_a_spoilt_cached_file_is_replaced(cache):
    # The library guesses no checkout: without a mirror it fetches from the default host.
    file = zoo.get("ebnet_fmnist").files["tflite"]
    assert zoo.files.source_url(file) == file.url
    mirror = zoo_mirror()  # the apps' default in a checkout: no network needed
    assert mirror == ZOO_DIR
    path = zoo.download("ebnet_fmnist", "tflite", mirror)
    published = (ZOO_DIR / path.name).read_bytes()
    assert path.read_bytes() == published
    path.write_bytes(b"spoilt")
    assert zoo.download("ebnet_fmnist", "tflite", mirror).read_bytes() == published


def test_corrupt_file_raises_and_leaves_the_cache_clean(cache, tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(ZOO_DIR, mirror)
    name = zoo.get("ebnet_fmnist").files["keras"].filename
    corrupt = bytearray((mirror / name).read_bytes())
    corrupt[len(corrupt) // 2] ^= 0xFF
    (mirror / name).write_bytes(bytes(corrupt))
    with serve(mirror) as url, pytest.raises(OSError, match="sha256"):
        zoo.download("ebnet_fmnist", "keras", mirror=url)
    assert cached_files(cache) == []


def test_interrupted_download_raises_and_leaves_the_cache_clean(cache):
    with serve(ZOO_DIR, TruncatingHandler) as url, pytest.raises(OSError, match="Incomplete"):
        zoo.download("ebnet_fmnist", "keras", mirror=url)
    assert cached_files(cache) == []


def test_missing_host_names_the_fix(cache):
    with pytest.raises(OSError, match=zoo.MIRROR_ENV):
        zoo.download("ebnet_fmnist", "keras", mirror="http://127.0.0.1:9")
    assert cached_files(cache) == []


def test_a_cache_that_is_a_file_names_the_setting(cache, monkeypatch):
    cache.write_text("not a directory")
    named = (
        f"The zoo cache {cache} cannot be a directory: {cache} is a file. Fix: point "
        f"{zoo.CACHE_ENV} \\(now {cache}\\) at a directory, or unset it"
    )
    with pytest.raises(NotADirectoryError, match=f"^{named}"):
        zoo.cache_dir()
    with pytest.raises(NotADirectoryError, match=f"^{named}"):
        zoo.download("ebnet_fmnist", "keras", mirror=ZOO_DIR)
    with pytest.raises(
        NotADirectoryError,
        match=f"^The zoo cache {cache}/sub cannot be a directory: {cache} is a file. Fix: give "
        "cache= a directory",
    ):
        zoo.download("ebnet_fmnist", "keras", mirror=ZOO_DIR, cache=cache / "sub")
    monkeypatch.delenv(zoo.CACHE_ENV)
    monkeypatch.setenv("KERAS_HOME", str(cache))
    with pytest.raises(NotADirectoryError, match=f"Fix: set {zoo.CACHE_ENV} to a directory"):
        zoo.cache_dir()
    assert cache.read_text() == "not a directory"


def test_the_app_names_a_cache_that_is_a_file(cache):
    cache.write_text("not a directory")
    result = subprocess.run(
        [sys.executable, "-m", "ebn_tf.apps.zoo", "download", "ebnet_fmnist"],
        capture_output=True,
        text=True,
        env={**os.environ, zoo.CACHE_ENV: str(cache)},
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"error: The zoo cache {cache} cannot be a directory: {cache} is a file." in (
        result.stderr
    )


def test_the_export_and_a_loaded_zoo_model_need_no_tensorflow_datasets(cache):
    code = (
        "import sys\nimport ebn_tf.export, ebn_tf.zoo\n"
        f"ebn_tf.zoo.load('ebnet_fmnist', mirror={str(ZOO_DIR)!r})\n"
        "print(sorted(m for m in sys.modules if m.startswith('tensorflow_datasets')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ZOO_DIR.parent, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_unknown_name_lists_the_known_ones(cache):
    with pytest.raises(ValueError, match="known models: .*ebnet_fmnist"):
        zoo.load("ebnet_mnist")
    with pytest.raises(ValueError, match="has no version 7; published: ebnet_fmnist@1, ebnet_f"):
        zoo.load("ebnet_fmnist@7")
    with pytest.raises(ValueError, match="must be a whole number, e.g. ebnet_fmnist@1"):
        zoo.download("ebnet_fmnist@v1")


def test_a_replaced_version_stays_published_and_every_card_is_its_entrys(cache):
    from ebn_tf.apps.publish import card

    newest, older = zoo.get("ebnet_fmnist"), zoo.get("ebnet_fmnist@1")
    assert (newest.version, older.version) == (3, 1)
    assert [m.version for m in newest.older_versions] == [1, 2]
    assert zoo.get("ebnet_fmnist@3") == newest and older.files != newest.files
    assert zoo.download("ebnet_fmnist@1", mirror=ZOO_DIR).name == "ebnet_fmnist-v1.weights.h5"
    for name in zoo.names():
        assert (ZOO_DIR / f"{name}.md").read_text() == card(zoo.get(name)), name


def test_a_zoo_model_is_rebuilt_from_its_stored_config_after_its_preset_changes(cache, monkeypatch):
    published = zoo.load("ebnet_fmnist", mirror=ZOO_DIR)
    wider = models.get_config("ebnet_fmnist").replace(widths=(64, 128, 512))
    monkeypatch.setitem(presets._PRESETS, "ebnet_fmnist", wider)
    rebuilt = zoo.load("ebnet_fmnist", mirror=ZOO_DIR)
    for a, b in zip(rebuilt.get_weights(), published.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # An entry written before configs were stored is built from its preset as it is today.
    entry = zoo.get("ebnet_fmnist")
    old = {k: v for k, v in entry.to_json().items() if k != "config"}
    assert zoo.ZooModel.from_json(old).model_config() == wider.replace(**entry.overrides)


def test_evaluate_on_the_train_split_sees_the_stored_images(cache, fmnist_data_dir, fmnist_idx_dir):
    # Neither augmented nor shuffled nor cut to full batches: the first 777 training images
    # of the IDX files, as stored.
    images = idx_items(fmnist_idx_dir / "train-images-idx3-ubyte.gz", 777)[..., None]
    labels = idx_items(fmnist_idx_dir / "train-labels-idx1-ubyte.gz", 777)
    model = zoo.load("ebnet_fmnist", mirror=ZOO_DIR)
    expected = np.mean(model.predict(images.astype("float32"), verbose=0).argmax(1) == labels)
    accuracy = zoo.evaluate("ebnet_fmnist", stored(fmnist_data_dir, "train", 777), mirror=ZOO_DIR)
    assert accuracy == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("name", [*PUBLISHED, "ebnet_fmnist@1"])
def test_loaded_model_takes_raw_images_and_scores_its_card(name, cache, fmnist_data_dir):
    card = zoo.get(name).metrics["test_top1"]
    # zoo.evaluate(name) is top1(zoo.load(name)): the model is loaded once for both checks
    # (zoo.evaluate itself is checked on the train split and with the teacher below).
    model = zoo.load(name, mirror=ZOO_DIR)
    accuracy = top1(model, stored(fmnist_data_dir))
    assert abs(accuracy - card) <= 0.001

    # Raw 0-255 pixels in, logits out; the TFLite file predicts the same classes.
    images, labels = next(iter(data.load("fashion_mnist", "test", 100, data_dir=fmnist_data_dir)))
    keras_top1 = model.predict(images, verbose=0).argmax(1)
    runner = export.interpreter(zoo.download(name, "tflite", mirror=ZOO_DIR).read_bytes())
    tflite_top1 = np.array([runner.predict(image[None]).argmax() for image in images.numpy()])
    assert np.mean(tflite_top1 == keras_top1) >= 0.99
    assert np.mean(keras_top1 == labels.numpy()) > 0.8


def test_app_lists_and_evaluates_from_a_served_mirror(cache, fmnist_data_dir):
    listed = subprocess.run(
        [sys.executable, "-m", "zoo", "list"], capture_output=True, text=True, check=True
    ).stdout
    assert all(name in listed for name in (*PUBLISHED, "ebnet_imagenet", "ebnet_fmnist@1"))
    with serve(ZOO_DIR) as url:
        evaluated = subprocess.run(
            [
                sys.executable,
                "-m",
                "zoo",
                "evaluate",
                "ebnet_fmnist",
                "--limit",
                "500",
                "--mirror",
                url,
                "--data_dir",
                str(fmnist_data_dir),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    # A slice is not compared with the card's whole-split figure.
    assert "ebnet_fmnist: top-1 on test" in evaluated and "(card:" not in evaluated
    failed = subprocess.run(
        [sys.executable, "-m", "zoo", "info", "nope"], capture_output=True, text=True
    )
    assert failed.returncode != 0 and "known models" in failed.stderr


def test_published_tflite_matches_keras_wherever_no_sign_sits_at_zero(cache, fmnist_data_dir):
    model = zoo.load("ebnet_fmnist", mirror=ZOO_DIR)
    flatbuffer = zoo.download("ebnet_fmnist", "tflite", mirror=ZOO_DIR).read_bytes()
    pool = parity_pool("fashion_mnist", str(fmnist_data_dir))
    report = export.parity(model, flatbuffer, export.parity_images(model, pool))
    # Every expert that the pool of test images reaches is covered; what is left is an
    # expert no image selects: v3's first layer sends none of the 70,000 images to expert 2.
    reached = layers.selected_experts(model, pool)
    assert report.uncovered == [
        (layer.name, e)
        for layer in layers.expert_layers(model)
        for e in range(layer.num_experts)
        if e not in reached[layer.name]
    ]
    assert report.uncovered == [("stage1_block1_conv1", 2)] and report.top1_agreement == 1.0
    assert report.max_relative_error_clear <= 1e-4
    # The clear images are enough to judge (v3: 31 of 64).
    assert report.images - report.near_zero_images >= report.images // 4


def test_the_published_teacher_scores_its_card_and_recipes_name_it(
    cache, fmnist_data_dir, tmp_path
):
    from ebn_tf.training import get_recipe
    from ebn_tf.training.configs import model_config
    from ebn_tf.training.trainer import _Run

    card = zoo.get("fmnist_teacher").metrics["test_top1"]
    accuracy = zoo.evaluate("fmnist_teacher", stored(fmnist_data_dir), mirror=ZOO_DIR)
    assert abs(accuracy - card) <= 0.001 and set(zoo.get("fmnist_teacher").files) == {"keras"}
    # teacher_weights=fmnist_teacher: the zoo entry's network, with its verified weights.
    recipe = get_recipe("fmnist_experts", ["train_limit=512", "eval_limit=256"])
    run = _Run(recipe, tmp_path, "one_device", fmnist_data_dir, 0, mirror=ZOO_DIR)
    assert run.teacher_config == zoo.get("fmnist_teacher").model_config()
    assert zoo.files.sha256(run.teacher_weights) == zoo.get("fmnist_teacher").files["keras"].sha256
    # A version can be pinned: NAME@K names that version whatever is published after it.
    pinned = get_recipe("fmnist_experts", ['teacher_weights="fmnist_teacher@1"'])
    assert model_config(pinned, "teacher") == zoo.get("fmnist_teacher@1").model_config()
