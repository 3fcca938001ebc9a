"""The command-line apps ``ebn-train``, ``ebn-convert``, ``ebn-zoo``, ``ebn-analyze`` and
``ebn-search``: each parses its absl flags and calls the library.

Not imported by ``import ebn_tf`` (they define absl flags). In a source checkout,
``python -m train`` (``convert``, ``zoo``, ...) runs the same app.
"""
