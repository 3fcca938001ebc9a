"""ebn-zoo import-official: the released checkpoint to a Keras model on disk."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import ebn_tf
import ebn_tf.zoo
from ebn_tf.apps.sources import load_model
from ebn_tf.models import EBNetConfig

TINY = Path(__file__).resolve().parent.parent / "fixtures" / "ebnet_official_tiny"


def _import(*args):
    return subprocess.run(
        [sys.executable, "-m", "ebn_tf.apps.zoo", "import-official", *map(str, args)],
        capture_output=True,
        text=True,
    )


def test_the_written_weights_and_config_rebuild_the_official_model(tmp_path):
    output = tmp_path / "official"
    result = _import(TINY / "state_dict_legacy.pth", "--output", output, "--image_size", 72)
    assert result.returncode == 0, result.stderr
    assert (
        "sha256 a1d3af64339200f16d67f643ed1b11b17a069084ba0d28bca7ed253a82f1d24b" in result.stdout
    )
    config = EBNetConfig(**json.loads((output / "config.json").read_text()))
    model = ebn_tf.models.build(config)
    model.load_weights(output / "ebnet_imagenet_official.weights.h5")
    loaded, dataset = load_model(str(output))  # as ebn-convert --model DIR loads it
    assert dataset is None  # 10 classes: not ImageNet
    expected = np.load(TINY / "expected.npz")
    for keras_model in (model, loaded, ebn_tf.zoo.load_imported(output)):
        logits = keras_model.predict(expected["images"].astype("float32"), verbose=0)
        np.testing.assert_allclose(logits, expected["logits"], atol=1e-4, rtol=0)
    assert "exact zeros in expert kernels: 0" in (output / "import.txt").read_text()


def test_a_file_that_is_no_checkpoint_is_refused_in_one_line(tmp_path):
    bogus = tmp_path / "model.pth.tar"
    bogus.write_text("not a checkpoint")
    result = _import(bogus, "--output", tmp_path / "out")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {bogus}")
    assert not (tmp_path / "out").exists()
    missing_output = _import(TINY / "state_dict.pth")
    assert missing_output.returncode == 1
    assert "--output" in missing_output.stderr
