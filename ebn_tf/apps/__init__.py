"""The command-line apps ``ebn-train``, ``ebn-convert``, ``ebn-zoo``, ``ebn-analyze`` and
``ebn-search``: each parses its absl flags and calls the library.

Not imported by ``import ebn_tf`` (they define absl flags). A source checkout's
``train/``, ``convert/``, ... folders are shims that run the same apps uninstalled.
"""
