"""A checkout's shim: ``python -m convert`` runs ``ebn_tf.apps.convert``."""
