"""A checkout's shim: ``python -m train`` runs ``ebn_tf.apps.train``."""
