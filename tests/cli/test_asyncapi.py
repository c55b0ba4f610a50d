"""``rpcmsg asyncapi module:object``: the document validates against the official AsyncAPI
3.0.0 JSON schema, from the ``@asyncapi/specs`` npm package (fetched with ``npm pack`` at
test time into ``~/.cache/rpcmsg``, or ``$RPCMSG_ASYNCAPI_SPECS_DIR``), and says what the
endpoints serve."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from rpcmsg.cli import main
from tests.drivers import IN_CI

SPECS_VERSION = "6.11.1"
SCHEMA_MEMBER = "package/schemas/3.0.0-without-$id.json"


def _specs_dir() -> Path:
    configured = os.environ.get("RPCMSG_ASYNCAPI_SPECS_DIR")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "rpcmsg" / f"asyncapi-specs-{SPECS_VERSION}"


@pytest.fixture(scope="session")
def asyncapi_schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    target = _specs_dir() / "3.0.0.json"
    if not target.exists():
        npm = shutil.which("npm")
        if npm is None:
            why = "npm is needed to fetch @asyncapi/specs (the AsyncAPI JSON schemas)"
            if IN_CI:
                pytest.fail(why)
            pytest.skip(why)
        where = tmp_path_factory.mktemp("asyncapi-specs")
        subprocess.run(
            [npm, "pack", f"@asyncapi/specs@{SPECS_VERSION}", "--pack-destination", str(where)],
            check=True, capture_output=True, timeout=300, cwd=where,
        )  # fmt: skip
        (tarball,) = where.glob("*.tgz")
        with tarfile.open(tarball) as archive:
            member = archive.extractfile(SCHEMA_MEMBER)
            assert member is not None
            data = member.read()
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.tmp")  # pytest-xdist workers race here
        partial.write_bytes(data)
        partial.replace(target)
    schema: dict[str, Any] = json.loads(target.read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema"
    return schema


def _document(capsys: Any, *argv: str) -> dict[str, Any]:
    assert main(list(argv)) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    if isinstance(node, dict) and "$ref" in node:  # a channel's message refers onwards
        return _resolve(doc, node["$ref"])
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_asyncapi_document_is_valid_and_complete(
    asyncapi_schema: dict[str, Any], capsys: Any
) -> None:
    doc = _document(
        capsys, "--url", "rabbit://u:secret@broker.example:5672/prod",
        "asyncapi", "tests.cli.served:WITH_NOTIFICATIONS", "--topic", "calc",
        "--title", "Calculator service",
    )  # fmt: skip
    jsonschema.Draft7Validator(asyncapi_schema).validate(doc)
    for ref in _refs(doc):  # every reference points at something in the document
        assert isinstance(_resolve(doc, ref), dict), ref

    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] == "Calculator service"
    assert doc["info"]["version"] == "1.3"  # the highest endpoint version
    assert doc["servers"] == {
        "broker": {"host": "broker.example:5672", "protocol": "amqp", "pathname": "/prod"}
    }
    assert "secret" not in json.dumps(doc)
    assert doc["channels"]["rpc"]["address"] == "calc"
    assert doc["channels"]["rpcServer"]["address"] == "calc.{server}"
    assert doc["channels"]["rpcFanout"]["address"] == "calc_fanout"
    assert doc["channels"]["notifications.info"]["address"] == "notifications.info"
    assert doc["channels"]["notifications.error"]["address"] == "notifications.error"
    assert sorted(doc["operations"]) == [
        "Audit.error", "Audit.info", "Calculator.add", "Calculator.fail",
        "Calculator.slow_double", "Versioned.whoami",
    ]  # fmt: skip
    add = doc["operations"]["Calculator.add"]
    assert add["action"] == "receive"
    assert add["summary"] == "Add two numbers."
    assert add["reply"]["address"]["location"] == "$message.payload#/_reply_q"
    request = _resolve(doc, add["messages"][0]["$ref"])
    args = request["payload"]["properties"]["args"]
    assert args["properties"] == {"a": {"type": "integer"}, "b": {"type": "integer"}}
    assert args["required"] == ["a"]
    assert request["payload"]["properties"]["method"] == {"const": "add"}
    whoami = _resolve(doc, doc["operations"]["Versioned.whoami"]["messages"][0]["$ref"])
    assert whoami["payload"]["properties"]["namespace"] == {"const": "math"}
    info = doc["operations"]["Audit.info"]
    assert info["channel"] == {"$ref": "#/channels/notifications.info"}
    assert "reply" not in info


def test_asyncapi_of_a_module(asyncapi_schema: dict[str, Any], capsys: Any) -> None:
    doc = _document(capsys, "asyncapi", "math")
    jsonschema.Draft7Validator(asyncapi_schema).validate(doc)
    assert "servers" not in doc  # no --url: no broker named
    assert doc["channels"]["rpc"]["address"] == "math"
    sqrt = _resolve(doc, doc["operations"]["math.sqrt"]["messages"][0]["$ref"])
    assert sqrt["payload"]["properties"]["args"]["required"] == ["x"]


def test_the_schema_catches_a_broken_document(asyncapi_schema: dict[str, Any], capsys: Any) -> None:
    doc = _document(capsys, "asyncapi", "tests.cli.served:Calculator")
    validator = jsonschema.Draft7Validator(asyncapi_schema)
    validator.validate(doc)
    del doc["operations"]["Calculator.add"]["channel"]
    assert not validator.is_valid(doc)


def test_asyncapi_of_a_running_server(
    asyncapi_schema: dict[str, Any],
    rpcmsg_url: str,
    rpcmsg_conf: Any,
    rpcmsg_server: Any,
    capsys: Any,
) -> None:
    """Without module:object the document comes from a server's introspection answer: the
    same document as from the object it serves."""
    from rpcmsg.cli._objects import endpoints_from

    spec = "tests.cli.served:WITH_NOTIFICATIONS"
    rpcmsg_conf.set_override("rpc_introspection_enabled", True)
    rpcmsg_server("calc", endpoints_from(spec), server="c1")
    common = ("--topic", "calc", "--title", "calc")
    live = _document(capsys, "--url", rpcmsg_url, "asyncapi", *common, "--server", "c1")
    jsonschema.Draft7Validator(asyncapi_schema).validate(live)
    assert live == _document(capsys, "--url", rpcmsg_url, "asyncapi", spec, *common)
    assert "Calculator.add" in live["operations"] and "Audit.info" in live["operations"]
    assert main(["--url", rpcmsg_url, "asyncapi"]) == 2
    assert "give module:object, or --topic" in capsys.readouterr().err


def test_asyncapi_of_a_server_without_introspection(
    rpcmsg_url: str, rpcmsg_server: Any, capsys: Any
) -> None:
    rpcmsg_server("quiet", endpoints_from_served())
    assert main(["--url", rpcmsg_url, "asyncapi", "--topic", "quiet"]) == 1
    assert "set rpc_introspection_enabled = true" in capsys.readouterr().err


def endpoints_from_served() -> list[Any]:
    from rpcmsg.cli._objects import endpoints_from

    return endpoints_from("tests.cli.served:Calculator")
