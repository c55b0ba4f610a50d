"""NotificationFilter and the dispatch rules around endpoints' results."""

from __future__ import annotations

import re
from typing import Any

import pytest

import rpcmsg
from rpcmsg.notify.dispatcher import BatchNotificationDispatcher, NotificationDispatcher

META = {"message_id": "m-1", "timestamp": "2026-11-23 10:00:00.000000"}


def match(rule: rpcmsg.NotificationFilter, **fields: Any) -> bool:
    values: dict[str, Any] = {
        "context": {"tenant": "t1", "roles": "admin,member"},
        "publisher_id": "compute.host1",
        "event_type": "compute.instance.create.end",
        "metadata": META,
        "payload": {"state": "active", "size": 3},
    }
    values.update(fields)
    return rule.match(**values)


def test_empty_filter_matches_everything() -> None:
    assert match(rpcmsg.NotificationFilter())
    assert match(rpcmsg.NotificationFilter(), publisher_id=None, payload="not a dict")


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"publisher_id": r"^compute\."}, True),
        ({"publisher_id": r"^network\."}, False),
        ({"publisher_id": "host1"}, False),  # re.match: anchored at the start
        ({"event_type": r"^compute\.instance\..*\.end$"}, True),
        ({"event_type": r"\.start$"}, False),
        ({"context": {"tenant": "^t1$"}}, True),
        ({"context": {"tenant": "^t2$"}}, False),
        ({"context": {"missing_key": ".*"}}, False),
        ({"context": {"tenant": "t", "roles": "admin"}}, True),
        ({"context": {"tenant": "t", "roles": "^member"}}, False),
        ({"metadata": {"timestamp": "2026-11"}}, True),
        ({"metadata": {"message_id": "x"}}, False),
        ({"payload": {"state": "^active$"}}, True),
        ({"payload": {"size": "3"}}, False),  # a non-string value never matches
        ({"payload": {"state": "^active$"}, "publisher_id": "^network"}, False),
    ],
)
def test_each_field(rule: dict[str, Any], expected: bool) -> None:
    assert match(rpcmsg.NotificationFilter(**rule)) is expected


def test_non_mapping_fields_do_not_match_key_rules() -> None:
    rule = rpcmsg.NotificationFilter(payload={"state": "active"})
    assert not match(rule, payload=["state", "active"])
    assert not match(rpcmsg.NotificationFilter(event_type="x"), event_type=None)


def test_context_objects_are_read_through_to_dict() -> None:
    class Ctx:
        def to_dict(self) -> dict[str, Any]:
            return {"tenant": "t1"}

    assert match(rpcmsg.NotificationFilter(context={"tenant": "t1"}), context=Ctx())


def test_a_bad_pattern_fails_at_construction() -> None:
    with pytest.raises(re.error):
        rpcmsg.NotificationFilter(event_type="(unclosed")


class Incoming:
    """An incoming message as oslo.messaging's dispatchers take it: ``ctxt`` and ``message``
    (hashable by identity, as the batch dispatcher returns a set of them)."""

    def __init__(self, ctxt: dict[str, Any], message: dict[str, Any]) -> None:
        self.ctxt = ctxt
        self.message = message


def note(priority: str = "info", payload: Any = None, event_type: str = "e") -> Any:
    message = {"publisher_id": "pub", "event_type": event_type, "priority": priority.upper()}
    message.update(payload=payload, **META)
    return Incoming({}, message)


class Endpoint:
    def __init__(self, result: Any = None, rule: Any = None) -> None:
        self.calls: list[Any] = []
        self.result = result
        self.filter_rule = rule

    def info(self, ctxt: Any, pub: Any, event: Any, payload: Any, md: Any) -> Any:
        self.calls.append(payload)
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_results_and_order() -> None:
    first, second = Endpoint(), Endpoint(rpcmsg.NotificationResult.REQUEUE)
    third = Endpoint()
    dispatcher = NotificationDispatcher([first, second, third])
    assert dispatcher.supported_priorities == ["info"]
    assert dispatcher.dispatch(note(payload=1)) == rpcmsg.NotificationResult.REQUEUE
    assert (first.calls, second.calls, third.calls) == ([1], [1], [])  # REQUEUE stops


def test_raising_endpoint_counts_as_requeue() -> None:
    dispatcher = NotificationDispatcher([Endpoint(RuntimeError("boom"))])
    assert dispatcher.dispatch(note()) == rpcmsg.NotificationResult.REQUEUE


def test_unknown_priority_and_unhandled_priority_are_handled() -> None:
    endpoint = Endpoint()
    dispatcher = NotificationDispatcher([endpoint])
    assert dispatcher.dispatch(note("shout")) is None  # oslo.messaging's answer; acknowledged
    assert dispatcher.dispatch(note("error")) == rpcmsg.NotificationResult.HANDLED
    assert endpoint.calls == []


def test_filtered_out_endpoint_is_skipped() -> None:
    picky = Endpoint(rule=rpcmsg.NotificationFilter(event_type="^wanted"))
    dispatcher = NotificationDispatcher([picky])
    dispatcher.dispatch(note(payload=1, event_type="unwanted"))
    dispatcher.dispatch(note(payload=2, event_type="wanted.thing"))
    assert picky.calls == [2]


def test_batch_dispatch_groups_by_priority_and_requeues_the_group() -> None:
    class Batch:
        def __init__(self) -> None:
            self.info_batches: list[list[Any]] = []
            self.error_batches: list[list[Any]] = []

            self.order: list[str] = []

        def info(self, messages: list[dict[str, Any]]) -> None:
            self.order.append("info")
            self.info_batches.append([m["payload"] for m in messages])

        def error(self, messages: list[dict[str, Any]]) -> Any:
            self.order.append("error")
            self.error_batches.append([m["payload"] for m in messages])
            return rpcmsg.NotificationResult.REQUEUE

    endpoint = Batch()
    dispatcher = BatchNotificationDispatcher([endpoint])
    notes = [note("info", 1), note("error", 2), note("info", 3), note("error", 4), note("x", 5)]
    assert dispatcher.dispatch(notes) == {notes[1], notes[3]}
    assert endpoint.info_batches == [[1, 3]]
    assert endpoint.error_batches == [[2, 4]]
    assert endpoint.order == ["error", "info"]  # priorities in alphabetical order, as oslo
