"""What every command shares: exit codes, the configuration and transports, error lines."""

from __future__ import annotations

import argparse
import json
import sys
from types import TracebackType
from typing import Any

from oslo_config import cfg

from rpcmsg import exceptions as exc_mod
from rpcmsg._url import _masked
from rpcmsg.opts import register_opts
from rpcmsg.transport import Transport, get_rpc_transport

__all__ = [
    "EXIT_BROKER",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_NO_ANSWER",
    "EXIT_OK",
    "EXIT_REMOTE",
    "EXIT_USAGE",
    "CLIError",
    "Session",
    "describe_error",
    "parse_json_object",
    "parse_params",
]

EXIT_OK = 0
EXIT_REMOTE = 1
EXIT_USAGE = 2
EXIT_NO_ANSWER = 3
EXIT_BROKER = 4
EXIT_INTERNAL = 5
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """A failure to report as one line with the given exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def parse_json_object(text: str, what: str) -> dict[str, Any]:
    """``text`` as a JSON object, or ``CLIError`` naming ``what`` and the problem."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CLIError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise CLIError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def parse_params(params: list[str], json_args: str | None) -> dict[str, Any]:
    """Method arguments from ``key=value`` words (JSON values when they parse) and ``--json``."""
    kwargs: dict[str, Any] = parse_json_object(json_args, "--json") if json_args else {}
    for word in params:
        key, sep, text = word.partition("=")
        if not sep or not key.isidentifier():
            raise CLIError(f"argument {word!r} is not key=value with a Python identifier as key")
        try:
            kwargs[key] = json.loads(text)
        except ValueError:
            kwargs[key] = text
    return kwargs


#: ``transport_url``'s default (oslo.messaging's): RabbitMQ on localhost.
_DEFAULT_URL = "rabbit://"


class Session:
    """The configuration and the transports of one command; cleans them up on exit."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.conf = cfg.ConfigOpts()
        argv: list[str] = []
        for path in args.config_file:
            argv += ["--config-file", path]
        try:
            self.conf(argv, project="rpcmsg", default_config_files=[] if argv else None)
        except (cfg.Error, OSError) as exc:
            raise CLIError(f"configuration: {exc}") from exc
        register_opts(self.conf)
        if args.exchange:
            self.conf.set_override("control_exchange", args.exchange)
        self.url: str = args.url or self.conf.transport_url
        self._transports: list[Transport] = []
        self._say_which_url()

    def _say_which_url(self) -> None:
        """Say on stderr which URL the command uses and where it came from (with
        ``--verbose``), and always when it is only the default."""
        if self.args.url:
            source = getattr(self.args, "url_source", "--url")
        elif self.conf.transport_url != _DEFAULT_URL or self.args.config_file:
            source = "transport_url of the configuration"
        else:
            print(
                f"rpcmsg: no --url, $RPCMSG_TRANSPORT_URL or transport_url in a configuration "
                f"file: using the default {_DEFAULT_URL} (RabbitMQ on localhost)",
                file=sys.stderr,
            )
            return
        if getattr(self.args, "verbose", False):
            print(f"rpcmsg: transport URL {_masked(self.url)} (from {source})", file=sys.stderr)

    def rpc_transport(self) -> Transport:
        transport = get_rpc_transport(self.conf, self.url)
        self._transports.append(transport)
        return transport

    def notification_transport(self) -> Transport:
        from rpcmsg.notify import get_notification_transport

        transport: Transport = get_notification_transport(self.conf, self.url)
        self._transports.append(transport)
        return transport

    def close(self) -> None:
        for transport in self._transports:
            try:
                transport.cleanup()
            except Exception:  # a broken transport must not hide the command's own outcome
                pass

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _first_line(text: object) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""


def _remote_line(exc: BaseException) -> str | None:
    if isinstance(exc, exc_mod.RemoteError):
        return f"remote error: {exc.exc_type}: {_first_line(exc.value)}"
    message = getattr(exc, "_remote_message", None)
    if message is not None:
        name = type(exc).__name__.removesuffix("_Remote")
        return f"remote error: {name}: {_first_line(message)}"
    return None


def _version_hint(line: str, args: argparse.Namespace) -> str:
    """What a remote ``UnsupportedVersion`` means for this command: no endpoint has the
    namespace asked for, or none of that namespace has a compatible version."""
    if "UnsupportedVersion" not in line:
        return ""
    namespace = getattr(args, "namespace", None)
    version = getattr(args, "version", None) or "1.0"
    where = f"namespace {namespace!r}" if namespace else "the default namespace (no --namespace)"
    return f" (no endpoint in {where} supports version {version})"


def _fake_hint(args: argparse.Namespace) -> str:
    """What to add when nothing answered over ``fake://``: it reaches this process only."""
    if not str(getattr(args, "url", "") or "").startswith("fake:"):
        return ""
    return (
        " (fake:// is a broker inside this one process: servers started by other commands "
        "cannot be reached; use rabbit:// or redis://)"
    )


def describe_error(exc: BaseException, args: argparse.Namespace) -> tuple[int, str]:
    """The exit code and the one line that tell a user what went wrong."""
    remote = _remote_line(exc)
    if remote is not None:
        return EXIT_REMOTE, remote + _version_hint(remote, args)
    topic, server = getattr(args, "topic", None), getattr(args, "server", None)
    where = f"topic {topic!r}" + (f" server {server!r}" if server else "")
    if isinstance(exc, exc_mod.MessagingTimeout):
        line = f"no answer from {where} in time: {_first_line(exc)}"
        return EXIT_NO_ANSWER, line + _fake_hint(args)
    if isinstance(exc, exc_mod.MessageUndeliverable):
        return EXIT_NO_ANSWER, f"no server listens on {where}" + _fake_hint(args)
    if isinstance(exc, (exc_mod.InvalidTransportURL, exc_mod.DriverLoadFailure)):
        return EXIT_USAGE, _first_line(exc)
    if isinstance(exc, (exc_mod.InvalidTarget, exc_mod.RPCVersionCapError)):
        return EXIT_USAGE, _first_line(exc)
    if isinstance(exc, exc_mod.MessagingException):
        return EXIT_BROKER, f"{type(exc).__name__}: {_first_line(exc)}"
    if isinstance(exc, cfg.Error):
        return EXIT_USAGE, f"configuration: {_first_line(exc)}"
    return EXIT_INTERNAL, (
        f"unexpected {type(exc).__name__}: {_first_line(exc)} (--verbose shows the traceback)"
    )
