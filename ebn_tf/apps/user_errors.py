"""How the apps report an error that the user can fix: one ``error:`` line, no traceback."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

# A bad value, a missing, misplaced or unreadable file, a training that diverged: their
# messages name the value or path and the fix, which a traceback would only bury.
USER_ERRORS = (ValueError, OSError, FloatingPointError)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Exit with status 1 and ``error: MESSAGE`` on stderr on any of ``USER_ERRORS``.

    Example:
        >>> with user_errors():
        ...     summary = training.train(recipe, FLAGS.model_dir)
    """
    try:
        yield
    except USER_ERRORS as error:
        sys.exit(f"error: {error}")
