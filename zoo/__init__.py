"""A checkout's shim: ``python -m zoo`` runs ``ebn_tf.apps.zoo``."""
