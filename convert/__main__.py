"""``python -m convert`` in a checkout: the ``ebn-convert`` app (``ebn_tf.apps.convert``)."""

from ebn_tf.apps.convert import run

run()
