"""A checkout's shim: ``python -m search`` runs ``ebn_tf.apps.search``."""
