"""Certificates for TLS tests, made by ``openssl``: a CA, and a server and a client
certificate signed by it (valid for 127.0.0.1 and localhost unless told otherwise)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import rpcmsg
from tests.helpers.processes import need

__all__ = ["Certificates", "make_certificates", "refused"]


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certificates(
    where: Path, name: str = "test", names: str = "IP:127.0.0.1,DNS:localhost"
) -> Certificates:
    """A fresh CA named ``name`` and certificates signed by it, in ``where``, naming the
    hosts ``names`` (an openssl ``subjectAltName``)."""
    openssl = need("openssl")

    def run(command: str, *subject: str) -> None:
        args = [openssl, *command.split(), *subject]
        subprocess.run(args, cwd=where, check=True, capture_output=True)

    where.mkdir(parents=True, exist_ok=True)
    new_key = "req -newkey rsa:2048 -nodes"
    run(f"{new_key} -x509 -days 2 -keyout ca.key -out ca.crt", "-subj", f"/CN={name} CA")
    (where / "san.cnf").write_text(f"subjectAltName={names}\n")
    sign = "-CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile san.cnf"
    for role in ("server", "client"):
        run(f"{new_key} -keyout {role}.key -out {role}.csr", "-subj", f"/CN={name} {role}")
        run(f"x509 -req -in {role}.csr {sign} -out {role}.crt")
    return Certificates(
        where / "ca.crt",
        where / "server.crt",
        where / "server.key",
        where / "client.crt",
        where / "client.key",
    )


def refused(send: Callable[[], Any], within: float = 10.0) -> rpcmsg.MessagingException:
    """The error ``send()`` (a call or cast with ``retry=0``) gets from a TLS peer that
    refuses the connection: within ``within`` seconds, an rpcmsg exception, never a raw
    ssl or client-library one."""
    started = time.monotonic()
    with pytest.raises(rpcmsg.MessagingException) as info:
        send()
    assert time.monotonic() - started < within
    assert type(info.value).__module__ == "rpcmsg.exceptions"
    return info.value
