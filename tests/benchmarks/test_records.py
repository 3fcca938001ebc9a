import json

import numpy as np

from benchmarks.records import RunRecord, file_digest


def test_record_round_trips_every_image(tmp_path):
    correct = np.random.default_rng(0).random(10_001) < 0.9  # not a multiple of 8
    record = RunRecord(
        test=90.12,
        step3=91.0,
        minutes=55.5,
        collapse=("ebconv_3", 81.2),
        correct=correct,
        recipe={"recipe": "fmnist_experts", "seed": 0},
        step1="0f" * 32,
        commit="abc",
    )
    path = tmp_path / "seed0" / "e1.json"
    record.save(path)

    loaded = RunRecord.load(path)
    np.testing.assert_array_equal(loaded.correct, correct)
    assert (loaded.test, loaded.step3, loaded.minutes) == (90.12, 91.0, 55.5)
    assert loaded.collapse == ("ebconv_3", 81.2)
    assert loaded.recipe == {"recipe": "fmnist_experts", "seed": 0}
    assert (loaded.step1, loaded.commit) == ("0f" * 32, "abc")
    assert len(json.loads(path.read_text())["correct"]["packed_bits"]) < 2_000
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_run_without_record_loads_as_none(tmp_path):
    assert RunRecord.load(tmp_path / "e4.json") is None


def test_a_run_without_gates_keeps_no_collapse(tmp_path):
    record = RunRecord(90.0, 90.0, 1.0, None, np.ones(3, bool), {}, "", "abc")
    record.save(tmp_path / "e1.json")
    assert RunRecord.load(tmp_path / "e1.json").collapse is None


def test_file_digest_names_the_bytes(tmp_path):
    (tmp_path / "a").write_bytes(b"step 1")
    (tmp_path / "b").write_bytes(b"step 1")
    (tmp_path / "c").write_bytes(b"step 1 again")
    digests = [file_digest(tmp_path / name) for name in "abc"]
    assert digests[0] == digests[1] != digests[2] and len(digests[0]) == 64
