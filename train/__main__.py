"""``python -m train`` in a checkout: the ``ebn-train`` app (``ebn_tf.apps.train``)."""

from ebn_tf.apps.train import run

run()
