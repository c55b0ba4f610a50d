"""RequestNotifier: a WSGI middleware that sends a notification per HTTP request.

Compatible with ``oslo_messaging.notify.middleware``. For each request whose method is not
ignored, two notifications at ``INFO`` priority, with an empty context:

* ``http.request`` before the wrapped application runs, payload ``{"request": environ}``;
* ``http.response`` once the application has returned and started its response, payload
  ``{"request": environ, "response": {"status": "200 OK", "headers": {...}}}``; when the
  application raises instead, ``{"request": environ, "exception": {"value": repr(exc),
  "traceback": [lines]}}`` is sent and the exception propagates unchanged.

``environ`` is the WSGI environment reduced to its upper-case keys (the CGI variables and
``HTTP_*`` headers; PEP 3333 keeps server and ``wsgi.*`` keys lower case), plus
``HTTP_X_SERVICE_NAME``, which the middleware sets to ``service_name`` or the request's host
before the application runs. Headers in :data:`SECRET_HEADERS` are left out of both the
request and the response.

Settings, as keyword arguments or from a paste deploy section (strings)::

    [filter:notifier]
    paste.filter_factory = rpcmsg.notify.middleware:RequestNotifier.factory
    publisher_id = nova-api         # default: the program's file name
    service_name = compute          # default: the request's host
    ignore_req_list = GET, HEAD     # request methods sent through without notifications
    url = rabbit://...              # default: the notification transport_url of cfg.CONF

The notifier is built from the global ``cfg.CONF`` (``[oslo_messaging_notifications]``
``driver`` and ``topics``), on ``get_notification_transport(cfg.CONF, url)``.

Guarantees: a notification that cannot be sent is logged, never raised into the request;
the application's own exceptions always reach the caller.

Like oslo.messaging's (a ``webob.dec.wsgify`` application), it may also be called with a
webob request alone (``middleware(request)``): it then returns ``request.get_response()``
through itself. Response headers in the payload are a dict whose look-ups ignore case, as
webob's are (``["content-length"]``); they are sent with the names the application gave.

Differences from oslo.messaging's, which is built on webob and ``oslo_middleware``:

* the hooks take a :class:`Request` (a view of ``environ``) and a :class:`Response` (the
  status and headers given to ``start_response``), not webob objects;
* the response is reported once the application has called ``start_response``; for an
  application that calls it lazily, the first body chunks are read ahead for that, the rest
  of the body is streamed (webob reads all of such a body first). An exception raised while
  the server reads the rest of the body is not reported;
* credential headers (:data:`SECRET_HEADERS`) are left out, not just ``X-Auth-Token``;
  environment values JSON cannot carry are sent as text; duplicate response headers are
  joined with ``", "`` (webob keeps the last);
* it is not an ``oslo_middleware.base.Middleware``: there are no ``conf``/``oslo_conf``
  attributes.
"""

from __future__ import annotations

import functools
import logging
import os.path
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from traceback import format_tb
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from wsgiref.headers import Headers

from oslo_config import cfg

from rpcmsg.notify.notifier import Notifier, get_notification_transport

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["SECRET_HEADERS", "Request", "RequestNotifier", "Response", "log_and_ignore_error"]

LOG = logging.getLogger(__name__)

#: Header names (lower case) whose values never go into a notification.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "cookie",
        "proxy-authorization",
        "set-cookie",
        "x-auth-token",
        "x-service-token",
        "x-subject-token",
    }
)
_SECRET_ENVIRON_KEYS = frozenset("HTTP_" + h.upper().replace("-", "_") for h in SECRET_HEADERS)

_P = ParamSpec("_P")
_R = TypeVar("_R")


def log_and_ignore_error(fn: Callable[_P, _R]) -> Callable[_P, _R | None]:
    """Wrap ``fn`` so that an ``Exception`` it raises is logged and ``None`` returned.

    The default hooks are wrapped so; wrap an overriding hook too if it must never break
    the request.
    """

    @functools.wraps(fn)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R | None:
        try:
            return fn(*args, **kwargs)
        except Exception:
            LOG.exception("Request notification not sent: %s failed", fn.__name__)
            return None

    return guarded


class Request:
    """What the hooks get to know about a request: a live view of its WSGI ``environ``.

    Strings are WSGI native strings as the server gave them (not URL-quoted, not decoded).
    """

    def __init__(self, environ: WSGIEnvironment) -> None:
        self.environ = environ

    @property
    def method(self) -> str:
        """``REQUEST_METHOD`` (``GET`` when the server gave none)."""
        return str(self.environ.get("REQUEST_METHOD", "GET"))

    @property
    def script_name(self) -> str:
        return str(self.environ.get("SCRIPT_NAME", ""))

    @property
    def path_info(self) -> str:
        return str(self.environ.get("PATH_INFO", ""))

    @property
    def path(self) -> str:
        """The path without host or query: ``SCRIPT_NAME`` + ``PATH_INFO``."""
        return self.script_name + self.path_info

    @property
    def query_string(self) -> str:
        return str(self.environ.get("QUERY_STRING", ""))

    @property
    def host(self) -> str:
        """``HTTP_HOST``, else ``SERVER_NAME:SERVER_PORT``."""
        if "HTTP_HOST" in self.environ:
            return str(self.environ["HTTP_HOST"])
        return f"{self.environ.get('SERVER_NAME', '')}:{self.environ.get('SERVER_PORT', '')}"

    @property
    def remote_addr(self) -> str | None:
        addr = self.environ.get("REMOTE_ADDR")
        return None if addr is None else str(addr)

    @property
    def headers(self) -> Headers:
        """The request headers (a new case-insensitive ``wsgiref.headers.Headers`` per
        access), from ``HTTP_*``, ``CONTENT_TYPE`` and ``CONTENT_LENGTH``."""
        pairs = []
        for key, value in self.environ.items():
            if key.startswith("HTTP_"):
                name = key[5:]
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                name = key
            else:
                continue
            pairs.append((name.replace("_", "-").title(), str(value)))
        return Headers(pairs)


class Response:
    """The response as the application started it: ``status`` (``"200 OK"``) and
    ``headers`` (a case-insensitive ``wsgiref.headers.Headers`` over a copy of the list
    given to ``start_response``)."""

    def __init__(self, status: str, headers: Iterable[tuple[str, str]]) -> None:
        self.status = status
        self.headers = Headers(list(headers))

    @property
    def status_code(self) -> int:
        """The status as a number (``200``); ``0`` when the status line does not start with one."""
        code = self.status.split(" ", 1)[0]
        return int(code) if code.isdigit() else 0


class RequestNotifier:
    """Sends ``http.request`` and ``http.response`` notifications; see the module docstring.

    ``app`` is the wrapped WSGI application (kept as ``application``); ``conf`` holds the
    settings ``url``, ``publisher_id``, ``service_name`` and ``ignore_req_list`` (a
    comma-separated string or a list of methods), any others are ignored. Building it builds
    the notification transport and notifier (kept as ``notifier``), so it raises
    ``InvalidTransportURL`` or ``DriverLoadFailure`` for a bad configuration.
    """

    @classmethod
    def factory(
        cls, global_conf: Mapping[str, Any] | None, **local_conf: Any
    ) -> Callable[[WSGIApplication], RequestNotifier]:
        """The paste deploy filter factory: settings from the ``[DEFAULT]`` section
        (``global_conf``), overridden by the filter's own section (``local_conf``)."""
        conf = dict(global_conf or {})
        conf.update(local_conf)

        def wrap(app: WSGIApplication) -> RequestNotifier:
            return cls(app, **conf)

        return wrap

    def __init__(self, app: WSGIApplication, **conf: Any) -> None:
        self.application = app
        self.notifier = Notifier(
            get_notification_transport(cfg.CONF, conf.get("url")),
            publisher_id=conf.get("publisher_id", os.path.basename(sys.argv[0])),
        )
        self.service_name: str | None = conf.get("service_name")
        ignored = conf.get("ignore_req_list", "")
        methods = ignored.split(",") if isinstance(ignored, str) else ignored
        self.ignore_req_list = [m.strip().upper() for m in methods if m.strip()]

    @staticmethod
    def environ_to_dict(environ: Mapping[str, Any]) -> dict[str, Any]:
        """The ``request`` payload: the upper-case keys of ``environ`` except secret
        headers, values JSON cannot carry turned to text."""
        return {
            key: _json_safe(value)
            for key, value in environ.items()
            if key.isupper() and key not in _SECRET_ENVIRON_KEYS
        }

    @log_and_ignore_error
    def process_request(self, request: Request) -> None:
        """Called before the application runs. Sets ``HTTP_X_SERVICE_NAME`` in the environ
        (the application sees it) and sends ``http.request``. Never raises."""
        request.environ["HTTP_X_SERVICE_NAME"] = self.service_name or request.host
        self.notifier.info({}, "http.request", {"request": self.environ_to_dict(request.environ)})

    @log_and_ignore_error
    def process_response(
        self,
        request: Request,
        response: Response | None,
        exception: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        """Called once the application has started its response (``response``), or has
        raised ``exception`` with ``traceback`` (``response`` is then ``None``). Sends
        ``http.response``. Never raises."""
        payload: dict[str, Any] = {"request": self.environ_to_dict(request.environ)}
        if response is not None:
            payload["response"] = {
                "status": response.status,
                "headers": _headers_dict(response.headers.items()),
            }
        if exception is not None:
            payload["exception"] = {"value": repr(exception), "traceback": format_tb(traceback)}
        self.notifier.info({}, "http.response", payload)

    def __call__(
        self, environ: WSGIEnvironment | Any, start_response: StartResponse | None = None
    ) -> Any:
        """The WSGI application. Called with a webob-style request alone (an object with
        ``get_response(app)``), as oslo.messaging's ``webob.dec.wsgify`` middleware can be, it
        returns that request's response."""
        if start_response is None:
            get_response = getattr(environ, "get_response", None)
            if get_response is None:
                raise TypeError(
                    "RequestNotifier takes (environ, start_response), or a request with "
                    "get_response()"
                )
            return get_response(self)
        request = Request(environ)
        if request.method in self.ignore_req_list:
            return self.application(environ, start_response)
        self.process_request(request)
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def record_start(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None, /
        ) -> Callable[[bytes], object]:
            started.append((status, headers))
            return start_response(status, headers, exc_info)

        try:
            body = self.application(environ, record_start)
            if not started:
                body = _read_until_started(body, started)
        except Exception as exc:
            self.process_response(request, None, exc, exc.__traceback__)
            raise
        # An application that never started its response is left for the server to report.
        self.process_response(request, Response(*started[-1]) if started else None)
        return body


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, bytes):
        return value.decode("latin-1")  # the WSGI encoding of native strings
    return str(value)


class _HeaderDict(dict[str, str]):
    """The response headers of a payload: a dict (sent with the names as given) whose
    look-ups ignore case, as webob's headers in oslo.messaging's payloads do."""

    def _key(self, name: str) -> str:
        if not dict.__contains__(self, name):
            for key in self:
                if key.lower() == name.lower():
                    return key
        return name

    def __getitem__(self, name: str) -> str:
        return dict.__getitem__(self, self._key(name))

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, self._key(name) if isinstance(name, str) else name)

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.get(self, self._key(name), default)


def _headers_dict(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    result: dict[str, str] = _HeaderDict()
    for name, value in headers:
        if name.lower() in SECRET_HEADERS:
            continue
        result[name] = f"{result[name]}, {value}" if name in result else value
    return result


def _read_until_started(
    body: Iterable[bytes], started: list[tuple[str, list[tuple[str, str]]]]
) -> Iterable[bytes]:
    """``body`` with its first chunks read ahead until ``start_response`` was called (an
    application may call it as its iterable starts); ``close()`` still reaches ``body``."""
    chunks = iter(body)
    ahead: list[bytes] = []
    try:
        while not started:
            chunk = next(chunks, None)
            if chunk is None:
                break
            ahead.append(chunk)
    except BaseException:
        _close(body)
        raise
    return _ReadAhead(ahead, chunks, body)


def _close(body: Iterable[bytes]) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()


class _ReadAhead:
    def __init__(self, ahead: list[bytes], rest: Iterator[bytes], body: Iterable[bytes]) -> None:
        self._ahead = ahead
        self._rest = rest
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        yield from self._ahead
        yield from self._rest

    def close(self) -> None:
        _close(self._body)
