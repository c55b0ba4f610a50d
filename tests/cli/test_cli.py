"""The ``rpcmsg`` command line, driven in-process through ``rpcmsg.cli.main`` on fake://.

Servers run in the test process on the same fake broker (the ``rpcmsg_url`` fixture of the
shipped pytest plugin), so every command meets a real peer through the library's public API.
"""

from __future__ import annotations

import io
import json
import re
import sys
import threading
from typing import Any

import pytest

import rpcmsg
from rpcmsg.cli import main


class Service:
    """An endpoint with a result, a remote failure and a call that waits for the test."""

    def __init__(self, name: str = "s1") -> None:
        self.name = name
        self.release = threading.Event()
        self.casts: list[dict[str, Any]] = []
        self.cast_seen = threading.Event()

    def add(self, ctxt: Any, a: int, b: int) -> int:
        return a + b

    def echo(self, ctxt: Any, **kwargs: Any) -> dict[str, Any]:
        return {"ctxt": ctxt, "kwargs": kwargs}

    def whoami(self, ctxt: Any) -> str:
        return self.name

    def fail(self, ctxt: Any, why: str) -> None:
        raise ValueError(why)

    def hang(self, ctxt: Any) -> str:
        self.release.wait(10)
        return "released"

    def record(self, ctxt: Any, **kwargs: Any) -> None:
        self.casts.append(kwargs)
        self.cast_seen.set()


def run(url: str, *argv: str) -> int:
    return main(["--url", url, *argv])


def test_call_prints_the_result_as_json(rpcmsg_url: str, rpcmsg_server: Any, capsys: Any) -> None:
    rpcmsg_server("calc", [Service()])
    assert run(rpcmsg_url, "call", "calc", "add", "a=2", "b=40") == 0
    assert json.loads(capsys.readouterr().out) == 42


def test_call_arguments_from_words_json_and_context(
    rpcmsg_url: str, rpcmsg_server: Any, capsys: Any
) -> None:
    rpcmsg_server("calc", [Service()])
    code = run(
        rpcmsg_url, "call", "calc", "echo", "name=world", "n=3", 'tags=["a", "b"]',
        "--json", '{"flag": true, "n": 1}', "--context", '{"user": "alice"}',
    )  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    # Words are read as JSON when they parse and win over --json for the same key.
    assert out["kwargs"] == {"name": "world", "n": 3, "tags": ["a", "b"], "flag": True}
    assert out["ctxt"]["user"] == "alice"


def test_remote_error_exit_code_1_one_line(
    rpcmsg_url: str, rpcmsg_server: Any, capsys: Any
) -> None:
    rpcmsg_server("calc", [Service()])
    assert run(rpcmsg_url, "call", "calc", "fail", "why=no luck") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == "rpcmsg: error: remote error: ValueError: no luck"


def test_unknown_method_is_a_remote_error(rpcmsg_url: str, rpcmsg_server: Any, capsys: Any) -> None:
    rpcmsg_server("calc", [Service()])
    assert run(rpcmsg_url, "call", "calc", "nope") == 1
    assert "NoSuchMethod" in capsys.readouterr().err


def test_topic_nobody_listens_on_exit_code_3(rpcmsg_url: str, capsys: Any) -> None:
    assert run(rpcmsg_url, "call", "no-such-topic", "add", "--timeout", "30") == 3
    err = capsys.readouterr().err
    assert "no server listens on topic 'no-such-topic'" in err
    assert len(err.strip().splitlines()) == 1


def test_timeout_exit_code_3(rpcmsg_url: str, rpcmsg_server: Any, capsys: Any) -> None:
    service = Service()
    rpcmsg_server("slow", [service])
    try:
        assert run(rpcmsg_url, "call", "slow", "hang", "--timeout", "0.3") == 3
    finally:
        service.release.set()
    assert "no answer from topic 'slow'" in capsys.readouterr().err


def test_call_to_one_server(rpcmsg_url: str, rpcmsg_server: Any, capsys: Any) -> None:
    rpcmsg_server("pair", [Service("s1")], server="s1")
    rpcmsg_server("pair", [Service("s2")], server="s2")
    for name in ("s2", "s1", "s2"):
        assert run(rpcmsg_url, "call", "pair", "whoami", "--server", name) == 0
        assert json.loads(capsys.readouterr().out) == name


def test_namespace_and_version(rpcmsg_url: str, rpcmsg_server: Any, capsys: Any) -> None:
    class V1:
        target = rpcmsg.Target(namespace="math", version="1.1")

        def double(self, ctxt: Any, x: int) -> int:
            return 2 * x

    rpcmsg_server("versioned", [V1()])
    ok = ("call", "versioned", "double", "x=21", "--namespace", "math")
    assert run(rpcmsg_url, *ok, "--version", "1.1") == 0
    assert json.loads(capsys.readouterr().out) == 42
    assert run(rpcmsg_url, *ok, "--version", "2.0") == 1
    err = capsys.readouterr().err
    assert "UnsupportedVersion" in err
    assert "no endpoint in namespace 'math' supports version 2.0" in err
    # No endpoint in the default namespace: oslo.messaging reports that as a version error;
    # the command line names the namespace it asked for.
    assert run(rpcmsg_url, "call", "versioned", "double", "x=1") == 1
    err = capsys.readouterr().err
    assert "UnsupportedVersion" in err and "the default namespace (no --namespace)" in err
    assert run(rpcmsg_url, "call", "versioned", "double", "x=1", "--namespace", "nope") == 1
    err = capsys.readouterr().err
    assert "no endpoint in namespace 'nope' supports version 1.0" in err
    assert len(err.strip().splitlines()) == 1


def test_cast_and_fanout(rpcmsg_url: str, rpcmsg_server: Any, capsys: Any) -> None:
    one, two = Service("s1"), Service("s2")
    rpcmsg_server("casts", [one], server="s1")
    rpcmsg_server("casts", [two], server="s2")
    assert run(rpcmsg_url, "cast", "casts", "record", "n=1", "--server", "s2") == 0
    assert two.cast_seen.wait(5) and two.casts == [{"n": 1}]
    assert one.casts == []
    two.cast_seen.clear()
    assert run(rpcmsg_url, "cast", "casts", "record", "n=2", "--fanout") == 0
    assert one.cast_seen.wait(5) and two.cast_seen.wait(5)
    assert one.casts == [{"n": 2}] and two.casts == [{"n": 1}, {"n": 2}]
    assert capsys.readouterr().out == ""


def test_ping(rpcmsg_url: str, rpcmsg_conf: Any, rpcmsg_server: Any, capsys: Any) -> None:
    rpcmsg_conf.set_override("rpc_ping_enabled", True)
    rpcmsg_server("alive", [Service()], server="a1")
    assert run(rpcmsg_url, "ping", "alive", "--server", "a1", "--count", "2") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert all(line.startswith("pong from topic 'alive' server 'a1': ") for line in lines[:2])
    assert re.fullmatch(r"2 pongs: min [\d.]+ / avg [\d.]+ / max [\d.]+ ms", lines[2])
    assert run(rpcmsg_url, "ping", "dead", "--timeout", "0.3") == 3


def test_ping_of_a_server_without_ping_enabled(
    rpcmsg_url: str, rpcmsg_server: Any, capsys: Any
) -> None:
    rpcmsg_server("quiet", [Service()])
    assert run(rpcmsg_url, "ping", "quiet") == 1
    assert "rpc_ping_enabled" in capsys.readouterr().err


def _listen_in_thread(url: str, *argv: str) -> tuple[threading.Thread, list[int]]:
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(run(url, "listen", *argv)), daemon=True)
    thread.start()
    return thread, codes


def test_notify_then_listen_with_event_type_filter(rpcmsg_url: str, capsys: Any) -> None:
    # Pool-less listeners get what was published before they started.
    assert run(rpcmsg_url, "notify", "events", "info", "image.upload", '{"id": 0}') == 0
    assert run(
        rpcmsg_url, "notify", "events", "info", "compute.start", '{"id": 1}',
        "--publisher-id", "compute.host1",
    ) == 0  # fmt: skip
    assert run(rpcmsg_url, "notify", "events", "error", "compute.crash", '{"id": 2}') == 0
    thread, codes = _listen_in_thread(
        rpcmsg_url, "events", "--event-type", r"^compute\.", "--json", "--count", "2"
    )
    thread.join(10)
    assert not thread.is_alive() and codes == [0]
    notes = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted((n["event_type"], n["priority"], n["payload"]["id"]) for n in notes) == [
        ("compute.crash", "ERROR", 2),
        ("compute.start", "INFO", 1),
    ]
    start = next(n for n in notes if n["event_type"] == "compute.start")
    assert start["publisher_id"] == "compute.host1"


def test_notify_sends_the_context_without_credentials(rpcmsg_url: str, capsys: Any) -> None:
    assert run(
        rpcmsg_url, "notify", "ctx", "info", "e", "{}",
        "--context", '{"user": "alice", "auth_token": "t0k3n", "password": "pw"}',
    ) == 0  # fmt: skip
    thread, codes = _listen_in_thread(rpcmsg_url, "ctx", "--json", "--count", "1")
    thread.join(10)
    assert not thread.is_alive() and codes == [0]
    (note,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert note["context"] == {"user": "alice"}


def test_listen_one_priority_readable_lines(rpcmsg_url: str, capsys: Any) -> None:
    assert run(rpcmsg_url, "notify", "ops", "info", "a.b", '{"k": "info"}') == 0
    assert run(rpcmsg_url, "notify", "ops", "warning", "a.b", '{"k": "warn"}') == 0
    thread, codes = _listen_in_thread(rpcmsg_url, "ops", "--priority", "warn", "--count", "1")
    thread.join(10)
    assert not thread.is_alive() and codes == [0]
    (line,) = capsys.readouterr().out.splitlines()
    assert ' WARN     a.b publisher=rpcmsg-cli payload={"k": "warn"}' in line


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["call", "t", "m", "--json", "{oops"], "--json is not valid JSON"),
        (["call", "t", "m", "--json", "[1]"], "--json must be a JSON object"),
        (["call", "t", "m", "no-equals-sign"], "is not key=value"),
        (["notify", "t", "info", "e", "{bad"], "PAYLOAD_JSON is not valid JSON"),
        (["notify", "t", "loud", "e", "{}"], "unknown priority 'loud'"),
        (["listen", "t", "--event-type", "(unclosed"], "is not a valid regex"),
    ],
)
def test_bad_input_is_one_line_exit_code_2(
    rpcmsg_url: str, capsys: Any, argv: list[str], message: str
) -> None:
    assert run(rpcmsg_url, *argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("no-scheme-here", "No scheme specified"),
        ("nosuchdriver://host/", 'Failed to load transport driver "nosuchdriver"'),
        ("rabbit://host:99999/", "invalid port"),
    ],
)
def test_bad_url_exit_code_2(capsys: Any, url: str, message: str) -> None:
    assert run(url, "call", "t", "m") == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_missing_config_file_exit_code_2(capsys: Any, tmp_path: Any) -> None:
    missing = str(tmp_path / "missing.conf")
    assert main(["--config-file", missing, "call", "t", "m"]) == 2
    assert "configuration" in capsys.readouterr().err


def test_url_from_config_file(
    rpcmsg_url: str, rpcmsg_server: Any, capsys: Any, tmp_path: Any
) -> None:
    rpcmsg_server("calc", [Service()])
    conf = tmp_path / "my.conf"
    conf.write_text(f"[DEFAULT]\ntransport_url = {rpcmsg_url}\n")
    assert main(["--config-file", str(conf), "call", "calc", "add", "a=1", "b=2"]) == 0
    assert json.loads(capsys.readouterr().out) == 3


def test_drivers_lists_entry_points(capsys: Any) -> None:
    assert main(["drivers", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    transports = {row["name"]: row for row in data["rpcmsg.drivers"]}
    assert transports["fake"]["status"] == "ok"
    assert "mandatory" in transports["fake"]["capabilities"]
    notifiers = {row["name"] for row in data["rpcmsg.notify.drivers"]}
    assert {"messagingv2", "log", "noop"} <= notifiers
    assert main(["drivers"]) == 0
    text = capsys.readouterr().out
    assert "Transport drivers" in text and "rpcmsg_drivers.fake:FakeDriver" in text


def test_listen_count_leaves_the_rest_for_the_next_consumer(rpcmsg_url: str, capsys: Any) -> None:
    for n in range(4):
        assert run(rpcmsg_url, "notify", "queue", "info", "e", f'{{"n": {n}}}') == 0
    seen = []
    for count in ("1", "3"):
        thread, codes = _listen_in_thread(rpcmsg_url, "queue", "--json", "--count", count)
        thread.join(10)
        assert not thread.is_alive() and codes == [0]
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == int(count)
        seen += [json.loads(line)["payload"]["n"] for line in lines]
    assert sorted(seen) == [0, 1, 2, 3]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_listen_count_shows_progress_on_a_terminal_when_lines_go_elsewhere(
    rpcmsg_url: str, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        assert run(rpcmsg_url, "notify", "progress", "info", "e", f'{{"n": {n}}}') == 0
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    thread, codes = _listen_in_thread(rpcmsg_url, "progress", "--json", "--count", "3")
    thread.join(10)
    assert not thread.is_alive() and codes == [0]
    assert len(capsys.readouterr().out.splitlines()) == 3
    drawn = terminal.getvalue()
    for done in (1, 2, 3):
        assert f"] {done}/3" in drawn
    assert drawn.endswith("\r")  # the bar is wiped at the end


def test_listen_count_draws_no_bar_off_a_terminal(rpcmsg_url: str, capsys: Any) -> None:
    assert run(rpcmsg_url, "notify", "nobar", "info", "e", "{}") == 0
    thread, codes = _listen_in_thread(rpcmsg_url, "nobar", "--count", "1")
    thread.join(10)
    assert codes == [0]
    assert "1/1" not in capsys.readouterr().err
