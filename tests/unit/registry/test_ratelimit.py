"""Docker Hub's pull-limit headers, read as Docker documents them, and the gate's arithmetic."""

import pytest

from acrtasks.errors import RegistryError
from acrtasks.registry.ratelimit import PullGate, PullLimit, parse_limit


@pytest.mark.parametrize("limit, remaining, expected", [
    ("100;w=21600", "76;w=21600", PullLimit(100, 76, 21600)),  # docs.docker.com's example
    ("10;w=3600", "0;w=3600", PullLimit(10, 0, 3600)),
    ("200", "199", PullLimit(200, 199, 0)),
    (" 100 ; w = 21600 ", "5;w=21600", PullLimit(100, 5, 21600)),
    ("100;w=21600", "", None), ("", "5", None), ("lots", "5", None), ("100;w=21600", "-1;w=21600", None),
    ("1" * 20, "5", None),
])
def test_parse_limit(limit, remaining, expected):
    assert parse_limit({"ratelimit-limit": limit, "ratelimit-remaining": remaining}) == expected


def count(remaining, limit=10):
    return {"ratelimit-limit": f"{limit};w=60", "ratelimit-remaining": f"{remaining};w=60"}


def test_pulls_in_flight_are_taken_off_the_count_until_answered():
    gate = PullGate("hub", floor=2, max_wait=10, say=lambda text: None)
    gate.note(count(4), gate.ticket())
    first = gate.before_pull(lambda: pytest.fail("no need to ask"))
    second = gate.before_pull(lambda: pytest.fail("no need to ask"))
    assert gate.left() == 2 and gate.waited == 0  # 4, less two pulls not yet answered
    gate.note(count(3), first)
    assert gate.left() == 2  # 3, less the one still in flight
    gate.note(count(2), second)
    assert gate.left() == 2


def test_at_the_floor_the_gate_pauses_asks_again_and_gives_up_after_the_maximum():
    said = []
    gate = PullGate("hub", floor=2, max_wait=0.5, say=said.append)
    gate.note(count(2), gate.ticket())
    asked = []
    with pytest.raises(RegistryError) as caught:
        gate.before_pull(lambda: asked.append(1))
    assert "the pull limit is spent" in str(caught.value) and caught.value.status == 429
    assert 1 <= len(asked) <= 3 and gate.waited <= 0.5
    assert said and "2 of 10 pulls left in the window of 60 s" in said[0]


def test_a_count_that_comes_back_ends_the_pause():
    gate = PullGate("hub", floor=1, max_wait=5, say=lambda text: None)
    gate.note(count(0), gate.ticket())
    gate.before_pull(lambda: gate.note(count(10), gate.ticket(), fresh=True))
    assert gate.left() == 9 and gate.waited == 0  # asked at once: the window had come back


def test_between_pauses_a_higher_count_is_taken_for_a_stale_one():
    gate = PullGate("hub", floor=0, max_wait=10, say=lambda text: None)
    gate.note(count(2), gate.ticket())
    gate.note(count(3), gate.ticket())  # served before the other, answered after it
    assert gate.seen.remaining == 2
    gate.note(count(9), gate.ticket(), fresh=True)  # what a HEAD asked for: the window came back
    assert gate.seen.remaining == 9


def test_a_429_is_waited_out_only_within_the_maximum():
    gate = PullGate("hub", floor=1, max_wait=1, say=lambda text: None)
    assert gate.wait_out(RegistryError("429", status=429, retry_after="0"))
    assert not gate.wait_out(RegistryError("429", status=429, retry_after="5"))
