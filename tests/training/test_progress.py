import io
import sys

from ebn_tf.training.trainer import fit_verbosity


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert fit_verbosity("auto") == 2  # a file, a pipe, a CI log: one line per epoch
    monkeypatch.setattr(sys, "stdout", _Terminal())
    assert fit_verbosity("auto") == 1
    assert fit_verbosity(0) == 0
