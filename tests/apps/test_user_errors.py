import pytest

from ebn_tf.apps.user_errors import user_errors


@pytest.mark.parametrize(
    "error", [ValueError("bad"), NotADirectoryError("bad"), FloatingPointError("bad")]
)
def test_user_errors_become_one_error_line(error):
    with pytest.raises(SystemExit) as exited, user_errors():
        raise error
    assert exited.value.code == "error: bad"


def test_other_errors_keep_their_traceback():
    with pytest.raises(KeyError), user_errors():
        raise KeyError("bug")
