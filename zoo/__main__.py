"""``python -m zoo`` in a checkout: the ``ebn-zoo`` app (``ebn_tf.apps.zoo``)."""

from ebn_tf.apps.zoo import run

run()
