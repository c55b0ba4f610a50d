"""Transport URLs: ``driver://user:pass@host1:port1,user2:pass2@[::1]:port2/vhost?opt=value``."""

from __future__ import annotations

from typing import Any
from urllib import parse

from oslo_config import cfg

from rpcmsg.exceptions import InvalidTransportURL

__all__ = ["TransportHost", "TransportURL"]

_MASK = "****"


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
        password = _MASK if self.password is not None else None
        return (
            f"<TransportHost hostname={self.hostname}, port={self.port}, "
            f"username={self.username}, password={password}>"
        )

    def netloc(self, mask: bool = True) -> str:
        """``user:pass@host:port`` with the password masked unless ``mask`` is false."""
        out = ""
        if self.username is not None or self.password is not None:
            out = parse.quote(self.username or "", safe="")
            if self.password is not None:
                out += ":" + (_MASK if mask else parse.quote(self.password, safe=""))
            out += "@"
        if self.hostname:
            out += f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        if self.port is not None:
            out += f":{self.port}"
        return out


class TransportURL:
    """A parsed transport URL.

    ``transport`` names the driver (the URL scheme), ``hosts`` lists the brokers in order,
    ``virtual_host`` is the decoded path (``None`` when the URL has no path) and ``query`` maps
    option names to values that override the driver's option group. ``str()`` and ``repr()``
    mask passwords; drivers read the hosts' attributes directly.
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
        self.transport = transport
        self.virtual_host = virtual_host
        self.hosts: list[TransportHost] = list(hosts or [])
        self.query: dict[str, str] = dict(query or {})

    def _key(self) -> tuple[Any, ...]:
        return (self.transport, self.virtual_host, tuple(self.hosts), tuple(self.query.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TransportURL) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"<TransportURL {self}>"

    def __str__(self) -> str:
        return self.to_string(mask=True)

    def to_string(self, mask: bool = True) -> str:
        """The URL as text; the password is replaced by ``****`` unless ``mask`` is false."""
        out = f"{self.transport}://"
        out += ",".join(h.netloc(mask) for h in self.hosts)
        if self.virtual_host is not None:
            out += "/" + parse.quote(self.virtual_host, safe="")
        if self.query:
            out += "?" + parse.urlencode(self.query)
        return out

    @classmethod
    def parse(cls, conf: cfg.ConfigOpts | None, url: str | None = None) -> TransportURL:
        """Parse ``url``, or the ``transport_url`` option of ``conf`` when ``url`` is None.

        Raises ``InvalidTransportURL`` naming the problem: no scheme, a bad port, a bad
        IPv6 literal.
        """
        if url is None:
            if conf is None:
                raise InvalidTransportURL(None, "No transport URL given and no configuration")
            from rpcmsg.opts import register_opts

            register_opts(conf)
            url = conf.transport_url
        if isinstance(url, TransportURL):
            return url
        if not isinstance(url, str) or "://" not in url:
            from rpcmsg._plugins import DRIVER_NAMESPACE, installed

            names = ", ".join(installed(DRIVER_NAMESPACE)) or "none"
            raise InvalidTransportURL(
                str(url),
                f"Invalid transport URL {_masked(url)!r}: no scheme (driver://) given; "
                f"installed drivers: {names}",
            )
        scheme, rest = url.split("://", 1)
        if not scheme:
            raise InvalidTransportURL(url, f"Invalid transport URL {_masked(url)!r}: empty scheme")
        netloc, _, tail = rest.partition("/")
        if "?" in netloc:
            netloc, _, q = netloc.partition("?")
            path, query_text = "", q
            has_path = False
        else:
            path, _, query_text = tail.partition("?")
            has_path = "/" in rest
        hosts = [_parse_host(url, h) for h in netloc.split(",") if h] if netloc else []
        query: dict[str, str] = {}
        for key, values in parse.parse_qs(query_text, keep_blank_values=True).items():
            query[key] = ",".join(values)
        virtual_host = parse.unquote(path) if has_path else None
        return cls(conf, scheme, virtual_host, hosts, query)


def _masked(url: object) -> str:
    text = str(url)
    if "://" not in text or "@" not in text:
        return text
    scheme, rest = text.split("://", 1)
    netloc, sep, tail = rest.partition("/")
    parts = []
    for host in netloc.split(","):
        creds, at, addr = host.rpartition("@")
        if at and ":" in creds:
            creds = creds.split(":", 1)[0] + ":" + _MASK
        parts.append(creds + at + addr)
    return f"{scheme}://{','.join(parts)}{sep}{tail}"


def _parse_host(url: str, text: str) -> TransportHost:
    username = password = None
    creds, at, addr = text.rpartition("@")
    if at:
        user, colon, pw = creds.partition(":")
        username = parse.unquote(user)
        password = parse.unquote(pw) if colon else None
    hostname: str | None
    port_text = ""
    if addr.startswith("["):
        end = addr.find("]")
        if end < 0:
            raise InvalidTransportURL(
                url, f"Invalid transport URL {_masked(url)!r}: unterminated IPv6 address {addr!r}"
            )
        hostname = addr[1:end]
        after = addr[end + 1 :]
        if after and not after.startswith(":"):
            raise InvalidTransportURL(
                url, f"Invalid transport URL {_masked(url)!r}: junk after IPv6 address {addr!r}"
            )
        port_text = after[1:]
    else:
        hostname, _, port_text = addr.partition(":")
    port: int | None = None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise InvalidTransportURL(
                url, f"Invalid transport URL {_masked(url)!r}: invalid port {port_text!r}"
            )
        port = int(port_text)
    return TransportHost(parse.unquote(hostname) or None, port, username, password)
