"""The one retry policy and the timeouts read from the environment."""

import pytest

from acrtasks.errors import (
    Kind,
    PushFailed,
    RegistryError,
    UsageError,
)
from acrtasks.util import retry


@pytest.mark.parametrize("attempt, backoff, retry_after, expected", [
    (1, 1.0, None, 1.0), (2, 1.0, None, 2.0), (3, 1.0, None, 4.0), (3, 0.5, None, 2.0),
    (1, 1.0, "5", 5.0), (2, 4.0, "5", 8.0), (1, 1.0, "120", 30.0), (1, 1.0, "soon", 1.0), (1, 0.0, None, 0.0),
])
def test_delay_doubles_and_honours_retry_after_up_to_30_s(attempt, backoff, retry_after, expected):
    assert retry.delay(attempt, backoff, retry_after) == expected


@pytest.mark.parametrize("name, read", [("ACRTASKS_RETRY_BACKOFF", retry.backoff_seconds),
                                        ("ACRTASKS_REGISTRY_TIMEOUT", retry.registry_timeout)])
def test_seconds_from_the_environment(monkeypatch, name, read):
    monkeypatch.delenv(name, raising=False)
    assert read() == {"ACRTASKS_RETRY_BACKOFF": 1.0, "ACRTASKS_REGISTRY_TIMEOUT": 60.0}[name]
    monkeypatch.setenv(name, "2.5")
    assert read() == 2.5
    monkeypatch.setenv(name, "86400")
    assert read() == 86400
    for bad in ("-1", "soon", "86401", "nan"):
        monkeypatch.setenv(name, bad)
        with pytest.raises(UsageError) as err:
            read()
        minimum = "0" if name == "ACRTASKS_RETRY_BACKOFF" else "0.1"
        assert str(err.value) == f"{name}={bad!r} is not a number of seconds from {minimum} to 86400"


def test_backoff_may_be_zero_but_the_timeout_may_not(monkeypatch):
    monkeypatch.setenv("ACRTASKS_RETRY_BACKOFF", "0")
    assert retry.backoff_seconds() == 0
    monkeypatch.setenv("ACRTASKS_REGISTRY_TIMEOUT", "0")
    with pytest.raises(UsageError):
        retry.registry_timeout()
    monkeypatch.setenv("ACRTASKS_REGISTRY_TIMEOUT", "0.1")
    assert retry.registry_timeout() == 0.1


def test_with_retries_retries_transient_errors_only(monkeypatch):
    sleeps, calls, retries = [], [], []
    monkeypatch.setattr(retry, "pause", sleeps.append)

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RegistryError("reset", Kind.TRANSIENT)
        return "done"

    assert retry.with_retries(flaky, 3, 0.5, lambda *args: retries.append(args[0])) == "done"
    assert len(calls) == 3 and sleeps == [0.5, 1.0] and retries == [1, 2]

    calls.clear()
    with pytest.raises(RegistryError):
        retry.with_retries(lambda: calls.append(1) or (_ for _ in ()).throw(RegistryError("no", Kind.AUTH)), 3, 0)
    assert len(calls) == 1, "an auth failure is never retried"

    calls.clear()
    with pytest.raises(RegistryError, match="always"):
        retry.with_retries(lambda: calls.append(1) or (_ for _ in ()).throw(RegistryError("always",
                                                                                           Kind.TRANSIENT)), 3, 0)
    assert len(calls) == 3, "three tries, then the error"


def test_with_retries_reads_the_backoff_from_the_environment(monkeypatch):
    sleeps = []
    monkeypatch.setattr(retry, "pause", sleeps.append)
    monkeypatch.setenv("ACRTASKS_RETRY_BACKOFF", "0.25")
    calls = []

    def twice():
        calls.append(1)
        if len(calls) == 1:
            raise PushFailed("eof", Kind.TRANSIENT)
        return 1

    retry.with_retries(twice)
    assert sleeps == [0.25]


def test_retry_after_in_seconds_or_as_an_http_date_is_honoured_and_capped():
    """An HTTP-date Retry-After was ignored (18 GETs in 0.6 s with backoff 0); seconds were honoured."""
    import datetime
    from email.utils import format_datetime

    soon = format_datetime(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=12),
                           usegmt=True)
    assert 10 < retry.retry_after_seconds(soon) <= 12
    assert retry.retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # past: no wait beyond the backoff
    assert retry.retry_after_seconds("7") == 7.0
    assert retry.retry_after_seconds("soon") is None and retry.retry_after_seconds(None) is None
    assert 10 < retry.delay(1, 0, soon) <= 12  # backoff 0, the registry asked for 12 s
    assert retry.delay(1, 0, "3600") == retry.MAX_DELAY  # capped
    assert retry.delay(2, 1.0, None) == 2.0


def test_the_copys_own_retry_waits_as_the_registry_asked(monkeypatch):
    from acrtasks.errors import Kind, RegistryError

    slept, calls = [], []
    monkeypatch.setattr(retry, "pause", slept.append)

    def busy():
        calls.append(1)
        if len(calls) < 3:
            raise RegistryError("429", Kind.TRANSIENT, 429, retry_after="5")
        return "done"

    assert retry.with_retries(busy, tries=3, backoff=0) == "done"
    assert slept == [5.0, 5.0]


def test_pauses_between_tries_are_added_up_for_the_summary(monkeypatch):
    waited = retry._Waited()
    assert waited.note() == ""
    waited.pause(0.01)
    waited.pause(0.02)
    assert waited.pauses == 2 and abs(waited.seconds - 0.03) < 1e-9
    assert waited.note().startswith("waited 0s in 2 pause(s) between tries")


def test_a_pause_ends_at_once_on_ctrl_c():
    import time

    from acrtasks.util.jobs import CANCELLED

    CANCELLED.set()
    try:
        started = time.monotonic()
        retry._Waited().pause(30)
        assert time.monotonic() - started < 1
    finally:
        CANCELLED.clear()
