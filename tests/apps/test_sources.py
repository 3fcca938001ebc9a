import pytest

from ebn_tf.apps.sources import load_model


def test_a_file_that_is_no_model_is_named(tmp_path):
    empty = tmp_path / "empty.keras"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=f"^Cannot load {empty} as a saved Keras model"):
        load_model(str(empty))
    with pytest.raises(FileNotFoundError, match="No model 'nothing': give a run directory"):
        load_model("nothing")


def test_a_zoo_name_may_name_an_older_version(tmp_path, monkeypatch):
    from tests.zoo.test_zoo import ZOO_DIR

    monkeypatch.setenv("EBN_ZOO_CACHE", str(tmp_path))
    model, dataset = load_model("binary_fmnist_baseline@1", mirror=ZOO_DIR)
    assert dataset == "fashion_mnist" and model.count_params() > 0
