"""Which pushes wait for another (pusher.waves): pure logic on histories; the engine's history read from a
stand-in API."""

import pytest
from docker.errors import APIError

from acrtasks.components import pusher
from acrtasks.engine.client import Engine
from acrtasks.components.plan import PushStep
from acrtasks.errors import EngineError
from acrtasks.naming import ImageRef

MB = 1024 * 1024
BASE = [("2026-01-01 ADD rootfs", 3 * MB), ("2026-01-01 ENV PATH", 0)]
BIG_BASE = [("2026-01-01 ADD rootfs", 3 * MB), ("2026-01-02 RUN install", 2 * MB)]


def own(name, size=1000):
    return [(f"2026-02-01 RUN build {name}", size)]


def items(*pairs):
    """(local name, registry ref) pairs -> the (step, ref) items run_pushes schedules, and their image ids."""
    result, image_ids = [], {}
    for local, ref in pairs:
        local_ref = ImageRef.parse_engine_name(local)
        image_ids[local_ref] = f"sha256:{local.split(':')[0]}"
        result.append((PushStep(local.split(":")[0], (ImageRef.parse(ref),), local_ref), ImageRef.parse(ref)))
    return result, image_ids


def names(wave):
    return [str(ref) for _, ref in wave]


def test_shared_bytes_is_the_common_start_of_two_histories():
    assert pusher.shared_bytes(BIG_BASE + own("a"), BIG_BASE + own("b")) == 5 * MB
    assert pusher.shared_bytes(BASE + own("a"), BIG_BASE + own("a")) == 3 * MB  # the same step later counts not
    assert pusher.shared_bytes(own("a"), own("b")) == 0
    assert pusher.shared_bytes([], BASE) == 0
    assert pusher.shared_bytes(BASE, BASE) == 3 * MB


def test_big_shared_layers_in_other_repositories_wait_for_the_first_push():
    pushes, ids = items(("a:1", "r.io/ns/a:1"), ("b:1", "r.io/ns/b:1"), ("c:1", "r.io/ns/c:1"))
    histories = {"sha256:a": BIG_BASE + own("a"), "sha256:b": BIG_BASE + own("b"), "sha256:c": own("c", 50 * MB)}
    first, later = pusher.waves(pushes, ids, histories)
    assert names(first) == ["r.io/ns/a:1", "r.io/ns/c:1"]
    assert names(later) == ["r.io/ns/b:1"]


def test_the_threshold_is_inclusive_and_small_shared_layers_do_not_wait():
    pushes, ids = items(("a:1", "r.io/ns/a:1"), ("b:1", "r.io/ns/b:1"))
    histories = {"sha256:a": BIG_BASE + own("a"), "sha256:b": BIG_BASE + own("b")}
    assert names(pusher.waves(pushes, ids, histories, threshold=5 * MB)[1]) == ["r.io/ns/b:1"]
    assert names(pusher.waves(pushes, ids, histories, threshold=5 * MB + 1)[1]) == []
    small = {"sha256:a": BASE + own("a"), "sha256:b": BASE + own("b")}  # 3 MB < the 4 MiB default
    assert names(pusher.waves(pushes, ids, small)[0]) == ["r.io/ns/a:1", "r.io/ns/b:1"]


def test_one_repository_never_waits_the_engine_shares_its_uploads():
    pushes, ids = items(("a:1", "r.io/ns/shop:a-1"), ("b:1", "r.io/ns/shop:b-1"))
    histories = {"sha256:a": BIG_BASE + own("a"), "sha256:b": BIG_BASE + own("b")}
    first, later = pusher.waves(pushes, ids, histories)
    assert (names(first), later) == (["r.io/ns/shop:a-1", "r.io/ns/shop:b-1"], [])


def test_on_the_containerd_store_one_repository_waits_too():
    """Docker 26's containerd store shares no upload between two pushes, even into one repository."""
    pushes, ids = items(("a:1", "r.io/ns/shop:a-1"), ("b:1", "r.io/ns/shop:b-1"), ("c:1", "r.io/ns/shop:c-1"))
    histories = {"sha256:a": BIG_BASE + own("a"), "sha256:b": BIG_BASE + own("b"), "sha256:c": own("c")}
    first, later = pusher.waves(pushes, ids, histories, shared_within_repository=False)
    assert (names(first), names(later)) == (["r.io/ns/shop:a-1", "r.io/ns/shop:c-1"], ["r.io/ns/shop:b-1"])
    flat, _ = items(("a:1", "r.io/ns/shop:a-1"), ("b:1", "r.io/ns/shop:b-1"))
    assert pusher.needs_history(flat, shared_within_repository=False)
    assert not pusher.needs_history(items(("a:1", "r.io/ns/shop:a-1"))[0], shared_within_repository=False)


def test_other_registries_never_wait():
    pushes, ids = items(("a:1", "r.io/ns/a:1"), ("b:1", "s.io/ns/b:1"))
    histories = {"sha256:a": BIG_BASE + own("a"), "sha256:b": BIG_BASE + own("b")}
    assert pusher.waves(pushes, ids, histories)[1] == []


def test_an_alias_of_a_big_image_waits_for_its_first_repository():
    pushes, ids = items(("a:1", "r.io/ns/a:1"), ("a:1", "r.io/ns/a-init:1"))
    first, later = pusher.waves(pushes, ids, {"sha256:a": BIG_BASE + own("a")})
    assert (names(first), names(later)) == (["r.io/ns/a:1"], ["r.io/ns/a-init:1"])


def test_unknown_histories_share_nothing():
    pushes, ids = items(("a:1", "r.io/ns/a:1"), ("b:1", "r.io/ns/b:1"))
    assert pusher.waves(pushes, ids, {})[1] == []


def test_histories_are_read_only_when_a_registry_gets_two_repositories():
    flat, _ = items(("a:1", "r.io/ns/shop:a-1"), ("b:1", "r.io/ns/shop:b-1"), ("c:1", "s.io/ns/c:1"))
    nested, _ = items(("a:1", "r.io/ns/a:1"), ("b:1", "r.io/ns/b:1"))
    assert not pusher.needs_history(flat)
    assert pusher.needs_history(nested)


class FakeHistoryApi:
    def __init__(self, answer):
        self.answer = answer

    def history(self, image_id):
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_engine_history_is_oldest_first_and_tolerates_odd_entries():
    newest_first = [{"Created": 3, "CreatedBy": "RUN c", "Size": 7}, "junk",
                    {"Created": 2, "CreatedBy": "RUN b", "Size": -5}, {"Created": 1, "CreatedBy": "ADD a", "Size": 9}]
    assert Engine(FakeHistoryApi(newest_first)).history("sha256:x") == [
        ("1 ADD a", 9), ("2 RUN b", 0), ("None None", 0), ("3 RUN c", 7)]
    assert Engine(FakeHistoryApi({"not": "a list"})).history("sha256:x") == []


def test_engine_history_failure_is_an_engine_error():
    with pytest.raises(EngineError, match="history of sha256:x: gone"):
        Engine(FakeHistoryApi(APIError("gone"))).history("sha256:x")
    with pytest.raises(EngineError, match="history of sha256:x"):
        Engine(FakeHistoryApi(ConnectionResetError("reset"))).history("sha256:x")
