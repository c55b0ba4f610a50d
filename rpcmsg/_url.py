"""Transport URLs: ``driver://user:pass@host1:port1,user2:pass2@[::1]:port2/vhost?opt=value``."""

from __future__ import annotations

import ipaddress
import logging
from typing import Any
from urllib import parse

from oslo_config import cfg

from rpcmsg.exceptions import InvalidTransportURL

__all__ = ["TransportHost", "TransportURL"]

_MASK = "****"
LOG = logging.getLogger(__name__)


class TransportHost:
    """One broker host of a transport URL. ``repr()`` never shows the password."""

    __slots__ = ("hostname", "password", "port", "username")

    def __init__(
        self,
        hostname: str | None = None,
        port: int | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.hostname = hostname
        self.port = port
        self.username = username
        self.password = password

    def _key(self) -> tuple[Any, ...]:
        return (self.hostname, self.port, self.username, self.password)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TransportHost) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        # oslo.messaging's form (falsy attributes left out), but the password masked.
        shown = [
            f"{name}={(_MASK if name == 'password' else value)!r}"
            for name, value in zip(_HOST_ATTRS, self._key(), strict=True)
            if value
        ]
        return "<TransportHost " + ", ".join(shown) + ">"

    def netloc(self, mask: bool = True) -> str:
        """``user:pass@host:port`` with the password masked unless ``mask`` is false."""
        out = ""
        if self.username is not None or self.password is not None:
            if self.username is not None:
                out = parse.quote(self.username, safe="")
            if self.password is not None:
                out += ":" + (_MASK if mask else parse.quote(self.password, safe=""))
            out += "@"
        if self.hostname:
            out += f"[{self.hostname}]" if _is_ipv6(self.hostname) else self.hostname
        if self.port is not None:
            out += f":{self.port:d}"
        return out


_HOST_ATTRS = ("hostname", "port", "username", "password")


class TransportURL:
    """A parsed transport URL.

    ``transport`` names the driver (the URL scheme), ``hosts`` lists the brokers in order,
    ``virtual_host`` is the decoded path after its first ``/`` (``None`` when the URL has no
    path, ``""`` for ``driver:///``) and ``query`` maps option names to values (repeated names
    joined with commas) that override the driver's option group.

    As in oslo.messaging: ``str()`` gives the URL back in full, password included (services
    store and rebuild URLs with it), and equality and hash ignore the query. Unlike
    oslo.messaging, ``repr()`` masks passwords; log lines and error messages use
    ``to_string(mask=True)``.
    """

    def __init__(
        self,
        conf: cfg.ConfigOpts | None,
        transport: str | None = None,
        virtual_host: str | None = None,
        hosts: list[TransportHost] | None = None,
        query: dict[str, str] | None = None,
    ) -> None:
        self.conf = conf
        if conf is not None:
            from rpcmsg.opts import transport_opts

            conf.register_opts(transport_opts)
        self.transport = transport
        self.virtual_host = virtual_host
        self.hosts: list[TransportHost] = hosts if hosts is not None else []
        self.query: dict[str, str] = query if query is not None else {}

    def _key(self) -> tuple[Any, ...]:
        return (self.transport, self.virtual_host, tuple(self.hosts))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TransportURL) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        shown = [
            f"{name}={value!r}"
            for name, value in (
                ("transport", self.transport),
                ("virtual_host", self.virtual_host),
                ("hosts", self.hosts),
            )
            if value
        ]
        return "<TransportURL " + ", ".join(shown) + ">"

    def __str__(self) -> str:
        return self.to_string(mask=False)

    def to_string(self, mask: bool = True) -> str:
        """The URL as text in oslo.messaging's spelling (``driver://hosts/vhost?query``); the
        password is replaced by ``****`` unless ``mask`` is false."""
        out = f"{self.transport}://{','.join(h.netloc(mask) for h in self.hosts)}/"
        if self.virtual_host:
            out += parse.quote(self.virtual_host)
        if self.query:
            out += "?" + parse.urlencode(self.query, doseq=True)
        return out

    @classmethod
    def parse(cls, conf: cfg.ConfigOpts | None, url: str | None = None) -> TransportURL:
        """Parse ``url``, or the ``transport_url`` option of ``conf`` when ``url`` is empty.

        Accepts what oslo.messaging accepts: any URL to which ``urllib.parse`` gives a scheme
        (``fake:``, ``fake:/``, ``rabbit:///``). Raises ``InvalidTransportURL`` with
        oslo.messaging's wording first (``No scheme specified``, ``Wrong URL type``) and what
        would help after it; a bad port or IPv6 literal is named too.
        """
        if isinstance(url, TransportURL):
            return url
        if not url:
            if conf is None:
                raise InvalidTransportURL(None, "No transport URL given and no configuration")
            from rpcmsg.opts import register_opts

            register_opts(conf)
            url = conf.transport_url
        if not isinstance(url, str):
            raise InvalidTransportURL(url, f"Wrong URL type: {type(url).__name__}, not str")
        try:
            parsed = parse.urlparse(url)
        except ValueError as exc:  # urllib's "Invalid IPv6 URL"
            raise InvalidTransportURL(
                url, f"Invalid transport URL {_masked(url)!r}: {exc} (bad IPv6 address)"
            ) from exc
        if not parsed.scheme:
            from rpcmsg._plugins import DRIVER_NAMESPACE, installed

            names = ", ".join(installed(DRIVER_NAMESPACE)) or "none"
            raise InvalidTransportURL(
                parsed.geturl(),
                f"No scheme specified in transport URL {_masked(url)!r}: expected "
                f"driver://[user:pass@]host:port[,...]/virtual_host; installed drivers: {names}",
            )
        query: dict[str, str] = {}
        for key, values in parse.parse_qs(parsed.query).items():
            query[key] = ",".join(values)
        virtual_host = parse.unquote(parsed.path[1:]) if parsed.path.startswith("/") else None
        hosts = [_parse_host(url, h) for h in parsed.netloc.split(",") if h]
        with_creds = [h for h in hosts if h.username is not None and h.password is not None]
        if with_creds and len(with_creds) < len(hosts):
            LOG.warning(
                "Transport URL %s: all hosts should have a username and password, or none",
                _masked(url),
            )
        return cls(conf, parsed.scheme, virtual_host, hosts, query)


def _is_ipv6(hostname: str) -> bool:
    try:
        ipaddress.IPv6Address(hostname)
    except ValueError:
        return False
    return True


def _masked(url: object) -> str:
    text = str(url)
    if "@" not in text:
        return text
    try:
        parsed = parse.urlparse(text)
    except ValueError:
        return text.split("@")[-1]
    parts = []
    for host in parsed.netloc.split(","):
        creds, at, addr = host.rpartition("@")
        if at and ":" in creds:
            creds = creds.split(":", 1)[0] + ":" + _MASK
        parts.append(creds + at + addr)
    return parse.urlunparse(parsed._replace(netloc=",".join(parts)))


def _parse_host(url: str, text: str) -> TransportHost:
    # oslo.messaging's reading: credentials up to the last "@", the user up to the first ":";
    # the host part is not percent-decoded.
    username = password = None
    addr = text
    if "@" in text:
        username, addr = text.rsplit("@", 1)
        if ":" in username:
            username, password = username.split(":", 1)
            password = parse.unquote(password)
        username = parse.unquote(username)
    hostname: str | None
    port_text: str | None = None
    if not addr:
        hostname = None
    elif addr.startswith("["):
        inside, bracket, after = addr[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise InvalidTransportURL(
                url, f"Invalid transport URL {_masked(url)!r}: bad IPv6 address {addr!r}"
            )
        hostname = inside
        port_text = after[1:] if after else None
    elif addr.count(":") == 1:
        hostname, port_text = addr.split(":")
    else:
        hostname = addr  # a name, or an IPv6 address without brackets (and so without port)
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise InvalidTransportURL(
                url, f"Invalid transport URL {_masked(url)!r}: invalid port {port_text!r}"
            )
        port = int(port_text)
    return TransportHost(hostname, port, username, password)
