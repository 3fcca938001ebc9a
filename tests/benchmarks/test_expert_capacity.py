"""The capacity benchmark's routing modes: fixed routes replace every gate, so each image
goes to the experts its codes name; shared routes send it, in every layer, to the expert
the first gate picks. Its records: a recorded variant is not trained again, nor paired with
an e1 of another step 1."""

import json

import numpy as np
import pytest

from benchmarks import expert_capacity
from benchmarks.expert_capacity import FixedRoutes, share_first_routes
from ebn_tf import layers, models
from ebn_tf._keras import tf


def test_fixed_routes_send_each_image_to_the_expert_its_codes_name():
    images = np.random.default_rng(0).uniform(0, 255, (6, 28, 28, 1)).astype("float32")
    model = models.build("tiny", num_experts=4)
    expert = layers.expert_layers(model)
    routes = np.array([0, 1, 2, 3, 1, 2])
    # The same expert in every layer per image: image i computes as the model forced to it.
    codes = np.repeat(routes[:, None], len(expert), axis=1)
    forced = []
    for index in range(4):
        layers.set_forced_expert(model, index)
        forced.append(model(images, training=False).numpy())
    layers.set_forced_expert(model, None)
    fixed = FixedRoutes(model, codes)
    inputs = (images, np.arange(len(images)))
    expected = np.stack([forced[route][i] for i, route in enumerate(routes)])
    np.testing.assert_allclose(fixed(inputs, training=False).numpy(), expected, atol=1e-4)
    # A training call too (batch statistics, so no forced twin to compare with): the gate
    # it replaces takes the layer's training flag.
    assert np.isfinite(fixed(inputs, training=True).numpy()).all()
    # Each expert is drawn on its own, so the comparison above tells the routes apart.
    assert not np.allclose(forced[0], forced[1], atol=1e-3)


def test_shared_routes_send_each_image_to_its_first_gates_expert_in_every_layer():
    images = np.random.default_rng(1).uniform(0, 255, (16, 28, 28, 1)).astype("float32")
    model = models.build("tiny", num_experts=4, execution="kernel_mix")
    first = layers.expert_layers(model)[0]
    # Images of different brightness, and gates on their clusters, for routes that differ.
    images *= np.linspace(0.1, 1, len(images), dtype="float32")[:, None, None, None]
    layers.start_gates_on_clusters(model, images, 0)
    forced = []
    for index in range(4):
        layers.set_forced_expert(model, index)
        forced.append(model(images, training=False).numpy())
    layers.set_forced_expert(model, None)
    routes = layers.selected_experts(model, images)[first.name]
    share_first_routes(model)
    expected = np.stack([forced[route][i] for i, route in enumerate(routes)])
    np.testing.assert_allclose(model(images, training=False).numpy(), expected, atol=1e-4)
    # The first gate trains; the later gates, unused, get no gradient.
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(model(images, training=True)))
    grads = tape.gradient(loss, [layer.gate_kernel for layer in layers.expert_layers(model)])
    assert grads[0] is not None and np.abs(grads[0].numpy()).max() > 0
    assert all(grad is None for grad in grads[1:])
    # Routes that differ between images, so the comparison above tells them apart.
    assert len(set(routes)) > 1 and not np.allclose(forced[0], forced[1], atol=1e-3)


def test_a_recorded_variant_is_tabled_without_training_once_its_runs_are_gone(
    tmp_path, monkeypatch
):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (256, 28, 28, 1)).astype("float32")
    labels = rng.integers(0, 10, 256)
    monkeypatch.setattr(expert_capacity, "memorise_set", lambda size, seed: (images, labels))
    monkeypatch.setattr(expert_capacity, "RECORDS", tmp_path / "records")
    monkeypatch.setattr(expert_capacity, "DOCS", tmp_path / "docs")
    sections = []
    monkeypatch.setattr(expert_capacity, "write_section", lambda *s: sections.append(s))
    flags = (
        f"--model tiny --sizes 256 --seeds 0 --variants e1,e4 --epochs 1 --batch_size 64 "
        f"--fit_images 128 --stages step3 --root {tmp_path / 'runs'}"
    )
    monkeypatch.setattr("sys.argv", ["expert_capacity", *flags.split()])
    expert_capacity.main()
    record = tmp_path / "records" / "tiny_256" / "seed0" / "e4.json"
    assert record.exists() and (tmp_path / "runs" / "tiny_256" / "seed0" / "e4").is_dir()

    # Another machine: no run directories, nothing may train, the same table.
    (tmp_path / "runs").rename(tmp_path / "gone")
    monkeypatch.setattr(expert_capacity.Run, "_train", pytest.fail)
    expert_capacity.main()
    assert sections[1] == sections[0]
    assert "| 256 | e4 |" in sections[0][2]
    e1_row = next(line for line in sections[0][2].splitlines() if "| 256 | e1 |" in line)
    assert e1_row.endswith("| - | - | 0.0 |")  # no gate: no entropy, no route changes
    assert not (tmp_path / "runs").exists()
    step1 = {json.loads((record.parent / f"{v}.json").read_text())["step1"] for v in ("e1", "e4")}
    assert len(step1) == 1 and len(step1.pop()) == 64  # both from one step 1, its SHA-256

    # A variant whose step 1 was trained again (another machine) is not paired with e1.
    fields = json.loads(record.read_text())
    record.write_text(json.dumps({**fields, "step1": "0" * 64}))
    expert_capacity.main()
    e4_row = next(line for line in sections[2][2].splitlines() if "| 256 | e4 |" in line)
    assert " † |" in e4_row and "| - |" in e4_row
    assert "† |" not in sections[0][2]

    # A record of other settings is not passed off as this run's.
    monkeypatch.setattr("sys.argv", ["expert_capacity", *flags.split(), "--epochs", "2"])
    with pytest.raises(ValueError, match=r"e1\.json was made with .*Fix: run with its settings"):
        expert_capacity.main()


def test_the_margin_over_e1_pairs_each_seed_with_its_own_e1():
    # Seeds 0-1: e1 fits 33.1 / 29.2, the variant 30.2 / 25.8: paired, -2.9 and -3.4.
    assert expert_capacity.seed_margin([30.2, 25.8], [33.1, 29.2]) == "-3.15 [-6.33, +0.03]"
    assert expert_capacity.seed_margin([30.2], [33.1]) == "-2.90 [1 seed: none]"
