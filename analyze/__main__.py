"""``python -m analyze`` in a checkout: the ``ebn-analyze`` app (``ebn_tf.apps.analyze``)."""

from ebn_tf.apps.analyze import run

run()
