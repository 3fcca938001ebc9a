"""``python -m search`` in a checkout: the ``ebn-search`` app (``ebn_tf.apps.search``)."""

from ebn_tf.apps.search import run

run()
