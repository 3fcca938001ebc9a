import subprocess
import sys


def run(code: str, **env):
    import os

    environment = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=300
    )


def test_import_binds_legacy_keras():
    result = run(
        "import ebn_tf\nimport tensorflow as tf\nimport tf_keras\n"
        "assert tf.keras.layers.Layer is tf_keras.layers.Layer\n"
        "import larq\nprint('ok')"
    )
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_keras3_already_bound_is_a_clear_import_error():
    result = run(
        "import tensorflow as tf\ntf.keras.layers.Dense(1)\nimport ebn_tf", TF_USE_LEGACY_KERAS="0"
    )
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "TF_USE_LEGACY_KERAS=1" in result.stderr


def test_tensorflow_imported_first_is_a_clear_import_error():
    result = run("import tensorflow\nimport ebn_tf")
    assert result.returncode != 0
    assert "TF_USE_LEGACY_KERAS=1" in result.stderr
