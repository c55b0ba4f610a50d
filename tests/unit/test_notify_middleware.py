"""RequestNotifier: http.request / http.response notifications around a real WSGI app."""

from __future__ import annotations

import logging
import os.path
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from oslo_config import cfg

import rpcmsg
from rpcmsg.notify import middleware, test_driver
from rpcmsg.serializer import NoOpSerializer

BODY = b"Some response"
App = Callable[[dict[str, Any], Any], Iterable[bytes]]


def hello_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))])
    return [BODY]


def failing_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    raise RuntimeError("It happens!")


@pytest.fixture(autouse=True)
def _global_conf(global_conf: cfg.ConfigOpts) -> cfg.ConfigOpts:
    """Every test here runs on ``cfg.CONF`` with the test driver (tests/unit/conftest.py)."""
    return global_conf


@pytest.fixture
def built() -> Iterator[list[middleware.RequestNotifier]]:
    """Middlewares built by a test; their transports are cleaned up afterwards."""
    made: list[middleware.RequestNotifier] = []
    yield made
    for m in made:
        m.notifier.transport.cleanup()


def notifier(
    built: list[middleware.RequestNotifier], app: App = hello_app, **conf: Any
) -> middleware.RequestNotifier:
    m = middleware.RequestNotifier(app, **conf)
    built.append(m)
    return m


def serve(
    wsgi: Any, path: str = "/foo/bar", method: str = "GET", **environ: Any
) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run one request through ``wsgi`` as a server would: status, headers, body."""
    env: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, **environ}
    setup_testing_defaults(env)
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, headers))
        return lambda data: None

    result = wsgi(env, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return started[-1][0], started[-1][1], body


def sent() -> list[tuple[str, str, dict[str, Any], str | None]]:
    """(event_type, priority, payload, publisher_id) of each notification sent."""
    return [
        (msg["event_type"], priority, msg["payload"], msg["publisher_id"])
        for _, msg, priority, _ in test_driver.NOTIFICATIONS
    ]


def test_request_and_response_are_notified(built: list[middleware.RequestNotifier]) -> None:
    m = notifier(built)
    status, _, body = serve(
        m, HTTP_X_AUTH_TOKEN=uuid.uuid4().hex, QUERY_STRING="a=1", HTTP_HOST="api:8774"
    )
    assert (status, body) == ("200 OK", BODY)  # the client gets the app's response
    (req_event, req_prio, req_payload, _), (resp_event, resp_prio, resp_payload, _) = sent()
    assert (req_event, req_prio, set(req_payload)) == ("http.request", "INFO", {"request"})
    assert (resp_event, resp_prio) == ("http.response", "INFO")
    assert set(resp_payload) == {"request", "response"}
    for request in (req_payload["request"], resp_payload["request"]):
        assert request["PATH_INFO"] == "/foo/bar"
        assert request["REQUEST_METHOD"] == "GET"
        assert request["QUERY_STRING"] == "a=1"
        assert request["HTTP_X_SERVICE_NAME"] == "api:8774"  # no service_name: the host
        assert "HTTP_X_AUTH_TOKEN" not in request
        assert all(key.isupper() for key in request), "wsgi.* and server keys are left out"
    assert resp_payload["response"] == {
        "status": "200 OK",
        "headers": {"Content-Type": "text/plain", "Content-Length": "13"},
    }
    assert [ctxt for ctxt, *_ in test_driver.NOTIFICATIONS] == [{}, {}]


def test_credential_headers_stay_off_the_bus(built: list[middleware.RequestNotifier]) -> None:
    def login_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response(
            "201 Created",
            [
                ("X-Subject-Token", "new-token"),
                ("Set-Cookie", "session=abc"),
                ("Vary", "Accept"),
                ("Vary", "Cookie"),
            ],
        )
        return [b""]

    m = notifier(built, login_app)
    serve(
        m,
        method="POST",
        HTTP_AUTHORIZATION="Basic dTpw",
        HTTP_COOKIE="session=abc",
        HTTP_X_SUBJECT_TOKEN="old-token",
        HTTP_X_SERVICE_TOKEN="svc-token",
        HTTP_ACCEPT="application/json",
    )
    (_, _, req_payload, _), (_, _, resp_payload, _) = sent()
    request = req_payload["request"]
    assert request["HTTP_ACCEPT"] == "application/json"
    for key in (
        "HTTP_AUTHORIZATION",
        "HTTP_COOKIE",
        "HTTP_X_SUBJECT_TOKEN",
        "HTTP_X_SERVICE_TOKEN",
    ):
        assert key not in request
    assert resp_payload["response"] == {
        "status": "201 Created",
        "headers": {"Vary": "Accept, Cookie"},
    }


def test_ignored_methods_are_served_without_notifications(
    built: list[middleware.RequestNotifier],
) -> None:
    m = notifier(built, ignore_req_list="get, PUT")
    assert serve(m, "/skip", "GET")[2] == BODY
    assert serve(m, "/skip", "PUT")[2] == BODY
    assert test_driver.NOTIFICATIONS == []
    assert serve(m, "/accept", "POST")[2] == BODY
    assert [(event, payload["request"]["PATH_INFO"]) for event, _, payload, _ in sent()] == [
        ("http.request", "/accept"),
        ("http.response", "/accept"),
    ]


def test_an_app_that_raises_is_notified_and_the_exception_propagates(
    built: list[middleware.RequestNotifier],
) -> None:
    m = notifier(built, failing_app)
    with pytest.raises(RuntimeError, match="It happens!"):
        serve(m)
    (req_event, _, _, _), (resp_event, resp_prio, resp_payload, _) = sent()
    assert (req_event, resp_event, resp_prio) == ("http.request", "http.response", "INFO")
    assert set(resp_payload) == {"request", "exception"}
    assert resp_payload["request"]["PATH_INFO"] == "/foo/bar"
    exception = resp_payload["exception"]
    assert exception["value"] == repr(RuntimeError("It happens!"))
    assert "middleware.py" in exception["traceback"][0]
    assert 'raise RuntimeError("It happens!")' in exception["traceback"][-1]


def test_an_app_that_starts_its_response_lazily(built: list[middleware.RequestNotifier]) -> None:
    closed = threading.Event()

    class LazyBody:
        def __init__(self, start_response: Any) -> None:
            self.start_response = start_response

        def __iter__(self) -> Iterator[bytes]:
            self.start_response("404 Not Found", [("Content-Type", "text/plain")])
            yield b"no "
            yield b"such thing"

        def close(self) -> None:
            closed.set()

    m = notifier(built, lambda environ, start_response: LazyBody(start_response))
    assert serve(m) == ("404 Not Found", [("Content-Type", "text/plain")], b"no such thing")
    assert closed.is_set()  # the server's close() reached the app's iterable
    (_, _, _, _), (event, _, payload, _) = sent()
    assert (event, payload["response"]["status"]) == ("http.response", "404 Not Found")


def test_an_app_that_raises_before_starting_lazily(
    built: list[middleware.RequestNotifier],
) -> None:
    def broken(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        raise ValueError("not even started")
        yield b""  # a generator: it raises on the first read

    m = notifier(built, broken)
    with pytest.raises(ValueError, match="not even started"):
        serve(m)
    assert sent()[-1][2]["exception"]["value"] == repr(ValueError("not even started"))


class ExplodingSerializer(NoOpSerializer):
    def serialize_entity(self, ctxt: Any, entity: Any) -> Any:
        raise RuntimeError("serializer broken")


def test_a_failing_notifier_never_breaks_the_request(
    built: list[middleware.RequestNotifier], caplog: pytest.LogCaptureFixture
) -> None:
    m = notifier(built)
    m.notifier = rpcmsg.Notifier(m.notifier.transport, "p", serializer=ExplodingSerializer())
    caplog.set_level(logging.ERROR, logger="rpcmsg.notify.middleware")
    status, _, body = serve(m)
    assert (status, body) == ("200 OK", BODY)
    # the hooks, called on their own, do not raise either
    request = middleware.Request({"REQUEST_METHOD": "GET", "HTTP_HOST": "h"})
    m.process_request(request)
    m.process_response(request, middleware.Response("200 OK", []))
    failures = [r for r in caplog.records if r.name == "rpcmsg.notify.middleware"]
    assert len(failures) == 4
    assert all("serializer broken" in str(r.exc_info[1]) for r in failures if r.exc_info)
    assert test_driver.NOTIFICATIONS == []


def test_a_failing_notifier_keeps_the_apps_exception(
    built: list[middleware.RequestNotifier],
) -> None:
    m = notifier(built, failing_app)
    m.notifier = rpcmsg.Notifier(m.notifier.transport, "p", serializer=ExplodingSerializer())
    with pytest.raises(RuntimeError, match="It happens!"):
        serve(m)


def test_factory_for_paste_deploy(built: list[middleware.RequestNotifier]) -> None:
    global_conf = {"__file__": "/etc/nova/api-paste.ini", "here": "/etc/nova"}
    global_conf["publisher_id"] = "from.default.section"
    make_filter = middleware.RequestNotifier.factory(
        global_conf, publisher_id="nova-api", service_name="compute", ignore_req_list="HEAD"
    )
    m = make_filter(hello_app)
    built.append(m)
    assert isinstance(m, middleware.RequestNotifier)
    assert m.application is hello_app
    assert global_conf["publisher_id"] == "from.default.section"  # not changed in place
    serve(m, method="HEAD")
    assert test_driver.NOTIFICATIONS == []
    serve(m, HTTP_HOST="api:8774")
    (_, _, payload, publisher), _ = sent()
    assert publisher == "nova-api"  # the filter's section wins over [DEFAULT]
    assert payload["request"]["HTTP_X_SERVICE_NAME"] == "compute"


def test_publisher_id_defaults_to_the_program_name(
    built: list[middleware.RequestNotifier], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["/usr/bin/nova-api", "--config-file", "x"])
    serve(notifier(built))
    assert {publisher for *_, publisher in sent()} == {"nova-api"}
    test_driver.reset()
    serve(notifier(built, publisher_id="api.host1"))
    assert {publisher for *_, publisher in sent()} == {"api.host1"}
    assert os.path.basename(sys.argv[0]) == "nova-api"


def test_service_name_defaults_to_the_host(built: list[middleware.RequestNotifier]) -> None:
    m = notifier(built)
    env: dict[str, Any] = {"SERVER_NAME": "api.example", "SERVER_PORT": "8774"}
    setup_testing_defaults(env)
    del env["HTTP_HOST"]
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.append(environ["HTTP_X_SERVICE_NAME"])  # set before the app runs
        return hello_app(environ, start_response)

    m.application = app
    b"".join(m(env, lambda *args: None))
    assert seen == ["api.example:8774"]
    assert sent()[0][2]["request"]["HTTP_X_SERVICE_NAME"] == "api.example:8774"


def test_values_json_cannot_carry_are_sent_as_text(
    built: list[middleware.RequestNotifier],
) -> None:
    serve(notifier(built), SSL_CLIENT_S_DN=b"CN=caf\xe9", REMOTE_PORT=uuid.UUID(int=7))
    request = sent()[0][2]["request"]
    assert request["SSL_CLIENT_S_DN"] == "CN=café"
    assert request["REMOTE_PORT"] == str(uuid.UUID(int=7))


def test_subclass_hooks_see_the_request_and_response(
    built: list[middleware.RequestNotifier],
) -> None:
    seen: dict[str, Any] = {}

    class Auditing(middleware.RequestNotifier):
        def process_request(self, request: middleware.Request) -> None:
            seen.update(
                method=request.method,
                path=request.path,
                query=request.query_string,
                host=request.host,
                remote=request.remote_addr,
                accept=request.headers["accept"],
                length=request.headers.get("Content-Length"),
            )
            super().process_request(request)

        def process_response(
            self,
            request: middleware.Request,
            response: middleware.Response | None,
            exception: BaseException | None = None,
            traceback: Any = None,
        ) -> None:
            assert response is not None
            seen.update(status=response.status_code, type=response.headers["content-type"])
            super().process_response(request, response, exception, traceback)

    m = Auditing(hello_app)
    built.append(m)
    serve(
        m,
        "/servers",
        "POST",
        SCRIPT_NAME="/v2.1",
        QUERY_STRING="x=1",
        REMOTE_ADDR="10.0.0.9",
        HTTP_ACCEPT="application/json",
        CONTENT_LENGTH="2",
    )
    assert seen == {
        "method": "POST",
        "path": "/v2.1/servers",
        "query": "x=1",
        "host": "127.0.0.1",
        "remote": "10.0.0.9",
        "accept": "application/json",
        "length": "2",
        "status": 200,
        "type": "text/plain",
    }
    assert [event for event, *_ in sent()] == ["http.request", "http.response"]


def test_url_setting_picks_the_transport(
    built: list[middleware.RequestNotifier], global_conf: cfg.ConfigOpts
) -> None:
    global_conf.set_override("driver", ["messagingv2"], group="oslo_messaging_notifications")
    url = f"fake:///{uuid.uuid4().hex}"
    got: list[tuple[str, str]] = []
    both = threading.Event()

    class Endpoint:
        def info(self, ctxt: Any, publisher: Any, event: str, payload: Any, md: Any) -> None:
            got.append((publisher, event))
            if len(got) == 2:
                both.set()

    transport = rpcmsg.get_notification_transport(global_conf, url)
    listener = rpcmsg.get_notification_listener(
        transport, [rpcmsg.Target(topic="notifications")], [Endpoint()]
    )
    listener.start()
    try:
        serve(notifier(built, url=url, publisher_id="api"))
        assert both.wait(5)
    finally:
        listener.stop()
        listener.wait()
        transport.cleanup()
    # the listener may hand the two to two workers: their order is not guaranteed
    assert sorted(got) == [("api", "http.request"), ("api", "http.response")]


class OneArgRequest:
    """A webob-style request: called with it alone, the middleware answers with
    ``get_response(app)``, as oslo.messaging's ``webob.dec.wsgify`` middleware does."""

    def __init__(self, path: str) -> None:
        self.environ: dict[str, Any] = {"REQUEST_METHOD": "GET", "PATH_INFO": path}
        setup_testing_defaults(self.environ)

    def get_response(self, app: Any) -> tuple[str, bytes]:
        started: list[str] = []
        body = app(self.environ, lambda status, headers, exc_info=None: started.append(status))
        return started[0], b"".join(body)


def test_called_with_a_request_object_alone(built: list[middleware.RequestNotifier]) -> None:
    m = notifier(built)
    assert m(OneArgRequest("/one")) == ("200 OK", BODY)
    assert [event for event, *_ in sent()] == ["http.request", "http.response"]
    with pytest.raises(TypeError, match="start_response"):
        m({"REQUEST_METHOD": "GET"})


def test_response_headers_are_looked_up_in_any_case(
    built: list[middleware.RequestNotifier],
) -> None:
    serve(notifier(built))
    headers = sent()[1][2]["response"]["headers"]
    assert headers["content-length"] == headers["Content-Length"] == "13"  # as webob's
    assert "CONTENT-TYPE" in headers and headers.get("content-type") == "text/plain"
    assert list(headers) == ["Content-Type", "Content-Length"]  # sent as the app named them
