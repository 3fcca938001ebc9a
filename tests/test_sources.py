import pytest

from ebn_tf.sources import load_model


def test_a_file_that_is_no_model_is_named(tmp_path):
    empty = tmp_path / "empty.keras"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=f"^Cannot load {empty} as a saved Keras model"):
        load_model(str(empty))
    with pytest.raises(FileNotFoundError, match="No model 'nothing': give a run directory"):
        load_model("nothing")
