import pytest
from smpplib import consts

from dashboard.sms.smpp_status import (
    SendError,
    is_permanent,
    is_throttling,
    is_transient,
    status_description,
    status_name,
)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (0x00, "ESME_ROK"),
        (0x58, "ESME_RTHROTTLED"),
        (0x0B, "ESME_RINVDSTADR"),
        (0x14, "ESME_RMSGQFUL"),
        (0xFE, "ESME_RDELIVERYFAILURE"),
        (0x0400, "0x00000400"),
        (0x09, "0x00000009"),
    ],
)
def test_it_names_command_statuses(code, name):
    assert status_name(code) == name


def test_it_names_every_status_smpplib_knows():
    for name in dir(consts):
        if name.startswith("SMPP_ESME_"):
            assert status_name(getattr(consts, name)) == name.removeprefix("SMPP_")


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (0x58, "Throttling"),
        (0x0B, "Destination"),
        (0x07, "Registered Delivery"),  # smpplib says "<Desc Not Set>"
        (0x0401, "vendor"),
        (0x0999, "Unknown"),
    ],
)
def test_it_describes_command_statuses(code, words):
    assert words in status_description(code)


@pytest.mark.parametrize("code", [0x58, 0x14])
def test_it_recognises_throttling(code):
    assert is_throttling(code)
    assert is_transient(code)
    assert not is_permanent(code)


@pytest.mark.parametrize("code", [0x08, 0x45, 0x64, 0x04])
def test_it_retries_temporary_failures_that_are_not_throttling(code):
    assert is_transient(code)
    assert not is_throttling(code)
    assert not is_permanent(code)


@pytest.mark.parametrize(
    "code", [0x01, 0x0A, 0x0B, 0x43, 0x50, 0x51, 0x65, 0x66, 0xFE, 0xFF, 0x0400]
)
def test_it_gives_up_on_permanent_failures(code):
    assert is_permanent(code)
    assert not is_transient(code)


def test_ok_is_neither_transient_nor_permanent():
    assert not is_transient(0)
    assert not is_permanent(0)
    assert not is_throttling(0)


def test_a_send_error_carries_its_intent():
    error = SendError("bind is down", permanent=False)
    assert (error.reason, error.permanent, error.code, str(error)) == (
        "bind is down",
        False,
        None,
        "bind is down",
    )


@pytest.mark.parametrize(("code", "permanent"), [(0x58, False), (0x0B, True)])
def test_a_send_error_built_from_a_status_keeps_name_and_intent(code, permanent):
    error = SendError.from_status(code)
    assert error.code == code
    assert error.permanent is permanent
    assert error.reason.startswith(status_name(code) + ": ")
    assert "permanent=" in repr(error)
