"""A checkout's shim: ``python -m analyze`` runs ``ebn_tf.apps.analyze``."""
