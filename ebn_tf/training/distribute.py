"""tf.distribute strategies for training on one device, local GPUs or a cluster."""

from __future__ import annotations

import json
import os

from ebn_tf._keras import tf

STRATEGIES = ("auto", "mirrored", "multi_worker", "one_device")


def _cluster_workers() -> int:
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """The strategy called ``name``.

    ``auto``: MultiWorkerMirroredStrategy when TF_CONFIG names several workers, else
    MirroredStrategy over the local GPUs when there are several, else one device.
    ``multi_worker`` reads the cluster from TF_CONFIG; ``one_device`` is TensorFlow's
    default strategy.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose one of {STRATEGIES}.")
    if name == "auto":
        gpus = tf.config.list_logical_devices("GPU")
        name = (
            "multi_worker"
            if _cluster_workers() > 1
            else "mirrored"
            if len(gpus) > 1
            else "one_device"
        )
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "strategy 'multi_worker' needs the cluster in the TF_CONFIG "
                "environment variable (see tf.distribute.cluster_resolver)."
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    # The default strategy runs on one device (the first GPU, if any); unlike
    # OneDeviceStrategy, Keras' BackupAndRestore supports it.
    return tf.distribute.get_strategy()


def check_batch(strategy: tf.distribute.Strategy, global_batch: int) -> None:
    """Reject a global batch that does not split evenly across the replicas."""
    replicas = strategy.num_replicas_in_sync
    if global_batch % replicas:
        raise ValueError(
            f"batch_size={global_batch} does not split across {replicas} replicas; "
            f"use a multiple of {replicas}."
        )


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True where this process writes the run's files (the only one, or the cluster's chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker"
        and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )
