"""Output paths are checked before the work, and every refusal names the path."""

import pytest

from ebn_tf.outputs import check_output_dir, check_output_file


def test_output_dir(tmp_path):
    assert check_output_dir(tmp_path / "new" / "run") == tmp_path / "new" / "run"
    assert check_output_dir(str(tmp_path)) == tmp_path
    file = tmp_path / "file"
    file.write_text("")
    with pytest.raises(NotADirectoryError, match=f"^{file} is a file, not a directory"):
        check_output_dir(file)
    with pytest.raises(
        NotADirectoryError, match=f"^Cannot make the directory {file}/run: {file} is a file"
    ):
        check_output_dir(file / "run")


def test_output_file(tmp_path):
    model = tmp_path / "model.keras"
    model.write_text("")
    assert check_output_file(tmp_path / "model.tflite", (model,)) == tmp_path / "model.tflite"
    with pytest.raises(
        FileNotFoundError,
        match=f"^Cannot write {tmp_path}/no/m.tflite: its directory {tmp_path}/no",
    ):
        check_output_file(tmp_path / "no" / "m.tflite")
    with pytest.raises(IsADirectoryError, match=f"^Cannot write the file {tmp_path}: it is a dir"):
        check_output_file(tmp_path)
    with pytest.raises(NotADirectoryError, match=f"^Cannot write {model}/m.tflite: {model} is a"):
        check_output_file(model / "m.tflite")
    with pytest.raises(ValueError, match=f"^Cannot write {model}: it is the input {model}, which"):
        check_output_file(tmp_path / "." / "model.keras", (model,))
    with pytest.raises(ValueError, match=f"^Cannot write {model}: the file name must end in .tfl"):
        check_output_file(model, suffix=".tflite")
    run = tmp_path / "run"
    (run / "step4").mkdir(parents=True)
    for inside in (run / "m.tflite", run / "step4" / "m.tflite", tmp_path / "." / "run" / "m"):
        with pytest.raises(
            ValueError, match=f"^Cannot write {inside}: it lies inside the input directory {run},"
        ):
            check_output_file(inside, (run,))
    assert check_output_file(tmp_path / "run.tflite", (run,)) == tmp_path / "run.tflite"
    # A name that is no file (a zoo name) is no input to protect.
    assert check_output_file(tmp_path / "ebnet_fmnist", (tmp_path / "ebnet_fmnist",))
