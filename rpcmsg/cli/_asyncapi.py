"""``rpcmsg asyncapi``: an AsyncAPI 3.0 document of an object's endpoints.

The document is built from the same description introspection gives
(:func:`rpcmsg._introspect.describe_endpoint`), from the point of view of the server:

* channel ``rpc``: address ``<topic>``, a request for any server of the topic; channel
  ``rpcServer``: ``<topic>.{server}``, for one server; channel ``rpcFanout``:
  ``<topic>_fanout``, a cast to every server; channel ``rpcReply``: the caller's reply
  address (``null``: each caller's own, named in the request's ``_reply_q``);
* per RPC method, a ``receive`` operation on ``rpc`` whose message is the request as it is
  once the oslo envelope (``{"oslo.version": "2.0", "oslo.message": "<JSON>"}``) is
  opened: ``method``, ``args`` (one property per parameter, typed from plain annotations),
  ``namespace``, ``version``; with a ``reply`` (``result``, ``failure``, ``ending``) to
  ``rpcReply``;
* per notification method (``info``, ``error``... taking ``event_type`` and ``payload``:
  a notification listener's endpoint), a ``receive`` operation on channel
  ``<notification-topic>.<priority>``.

Without ``module:object``, the endpoints are those a running server of ``--topic``
(``--server``) describes (it needs ``rpc_introspection_enabled``). With ``--url`` (or
``$RPCMSG_TRANSPORT_URL``) the broker is listed under ``servers``.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from rpcmsg._introspect import describe_endpoint
from rpcmsg.cli._common import EXIT_OK, CLIError
from rpcmsg.cli._objects import endpoints_from
from rpcmsg.rpc.dispatcher import DefaultRPCAccessPolicy

__all__ = ["asyncapi", "document"]

ASYNCAPI_VERSION = "3.0.0"
PRIORITIES = ("audit", "debug", "info", "warn", "error", "critical", "sample")

_JSON_TYPES = {
    "int": "integer",
    "float": "number",
    "str": "string",
    "bool": "boolean",
    "list": "array",
    "tuple": "array",
    "dict": "object",
    "none": "null",
}
_PROTOCOLS = {"rabbit": "amqp", "amqp": "amqp", "kombu": "amqp", "rediss": "rediss"}
_KEY = re.compile(r"[^\w.\-]")


def _schema(annotation: str | None) -> dict[str, Any]:
    """A JSON schema for a plain annotation (``int``, ``list[str]``, ``str | None``...);
    anything else is any value."""
    if not annotation:
        return {}
    types = []
    for part in annotation.split("|"):
        json_type = _JSON_TYPES.get(part.strip().split("[", 1)[0].lower())
        if json_type is None:
            return {}
        types.append(json_type)
    return {"type": types[0]} if len(types) == 1 else {"type": types}


def _key(*parts: str | None) -> str:
    return _KEY.sub("_", ".".join(p for p in parts if p))


def _is_notification_method(method: dict[str, Any]) -> bool:
    names = {p["name"] for p in method["params"]}
    return method["name"] in PRIORITIES and {"event_type", "payload"} <= names


def _request(endpoint: dict[str, Any], method: dict[str, Any]) -> dict[str, Any]:
    params = [p for p in method["params"] if p["kind"] not in ("var_positional", "var_keyword")]
    args: dict[str, Any] = {
        "type": "object",
        "properties": {p["name"]: _schema(p["annotation"]) for p in params},
        "additionalProperties": any(p["kind"] == "var_keyword" for p in method["params"]),
    }
    required = [p["name"] for p in params if p["required"]]
    if required:
        args["required"] = required
    namespace = endpoint["namespace"]
    return {
        "type": "object",
        "required": ["method", "args"],
        "properties": {
            "method": {"const": method["name"]},
            "args": args,
            "namespace": {"const": namespace} if namespace else {"type": "null"},
            "version": {
                "type": "string",
                "description": f"served by a compatible version: {endpoint['version']}",
            },
            "_msg_id": {"type": "string", "description": "a call's id (absent for casts)"},
            "_reply_q": {"type": "string", "description": "a call's reply address"},
            "_unique_id": {"type": "string"},
            "_timeout": {"type": ["number", "null"]},
        },
        "patternProperties": {"^_context_": {"description": "one request context entry"}},
    }


_REPLY_PAYLOAD: dict[str, Any] = {
    "type": "object",
    "required": ["_msg_id", "ending"],
    "properties": {
        "result": {"description": "the method's result (null while ending is false)"},
        "failure": {
            "type": ["string", "null"],
            "description": "a JSON string with class, module, message, tb, args, kwargs",
        },
        "ending": {"type": "boolean", "description": "false for a call-monitor keep-alive"},
        "_msg_id": {"type": "string"},
        "_unique_id": {"type": "string"},
    },
}

_NOTIFICATION_PAYLOAD: dict[str, Any] = {
    "type": "object",
    "required": ["event_type", "payload", "priority", "publisher_id"],
    "properties": {
        "message_id": {"type": "string"},
        "publisher_id": {"type": "string"},
        "event_type": {"type": "string"},
        "priority": {"type": "string"},
        "payload": {},
        "timestamp": {"type": "string"},
    },
    "patternProperties": {"^_context_": {}},
}


def _text(value: str | None) -> dict[str, str]:
    return {"description": value} if value else {}


def _servers(url: str | None) -> dict[str, Any]:
    if not url:
        return {}
    from oslo_config import cfg

    from rpcmsg._url import TransportURL

    parsed = TransportURL.parse(cfg.ConfigOpts(), url)
    result: dict[str, Any] = {}
    for i, host in enumerate(parsed.hosts or []):
        server: dict[str, Any] = {
            "host": f"{host.hostname or 'localhost'}" + (f":{host.port}" if host.port else ""),
            "protocol": _PROTOCOLS.get(parsed.transport or "", parsed.transport or "unknown"),
        }
        if parsed.virtual_host:
            server["pathname"] = f"/{parsed.virtual_host}"
        result[f"broker{i}" if i else "broker"] = server
    return result


def document(
    described: list[dict[str, Any]],
    topic: str,
    title: str,
    notification_topic: str = "notifications",
    url: str | None = None,
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of endpoints served on ``topic`` (module docstring), from
    their descriptions (:func:`rpcmsg._introspect.describe_endpoint`, or the ``endpoints``
    of an introspection answer)."""
    rpc_messages: dict[str, Any] = {}
    reply_messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for endpoint in described:
        for method in endpoint["methods"]:
            key = _key(endpoint["name"], method["name"])
            doc = method["doc"]
            summary = {"summary": doc.splitlines()[0]} if doc else {}
            if _is_notification_method(method):
                channel = _key("notifications", method["name"])
                address = f"{notification_topic}.{method['name']}"
                channels.setdefault(channel, {"address": address, "messages": {}})
                messages[key] = {
                    "name": key,
                    "title": f"{method['name']} notification",
                    "payload": _NOTIFICATION_PAYLOAD,
                    **summary,
                }
                channels[channel]["messages"][key] = {"$ref": f"#/components/messages/{key}"}
                operations[key] = {
                    "action": "receive",
                    "channel": {"$ref": f"#/channels/{channel}"},
                    "messages": [{"$ref": f"#/channels/{channel}/messages/{key}"}],
                    "title": f"{endpoint['name']}.{method['name']}{method['signature']}",
                    **summary,
                    **_text(doc),
                }
                continue
            reply_key = f"{key}.reply"
            messages[key] = {
                "name": method["name"],
                "title": f"{method['name']}{method['signature']}",
                "payload": _request(endpoint, method),
                **summary,
                **_text(doc),
            }
            messages[reply_key] = {"name": reply_key, "payload": _REPLY_PAYLOAD}
            rpc_messages[key] = {"$ref": f"#/components/messages/{key}"}
            reply_messages[reply_key] = {"$ref": f"#/components/messages/{reply_key}"}
            operations[key] = {
                "action": "receive",
                "channel": {"$ref": "#/channels/rpc"},
                "messages": [{"$ref": f"#/channels/rpc/messages/{key}"}],
                "title": f"{endpoint['name']}.{method['name']}",
                **summary,
                **_text(doc),
                "reply": {
                    "address": {
                        "location": "$message.payload#/_reply_q",
                        "description": "calls only; casts get no reply",
                    },
                    "channel": {"$ref": "#/channels/rpcReply"},
                    "messages": [{"$ref": f"#/channels/rpcReply/messages/{reply_key}"}],
                },
            }
    if rpc_messages:
        channels["rpc"] = {
            "address": topic,
            "title": "requests to any server of the topic",
            "messages": rpc_messages,
        }
        channels["rpcServer"] = {
            "address": f"{topic}.{{server}}",
            "title": "requests to one server",
            "parameters": {"server": {"description": "the server's name"}},
            "messages": dict(rpc_messages),
        }
        channels["rpcFanout"] = {
            "address": f"{topic}_fanout",
            "title": "casts to every server of the topic",
            "messages": dict(rpc_messages),
        }
        channels["rpcReply"] = {
            "address": None,
            "title": "the caller's reply address (the request's _reply_q)",
            "messages": reply_messages,
        }
    versions = sorted({e["version"] for e in described})
    result: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": title,
            "version": versions[-1] if versions else "1.0",
            "description": next((e["doc"] for e in described if e["doc"]), None)
            or f"RPC endpoints served on topic {topic!r} with rpcmsg (oslo.messaging wire "
            "format: each message is the JSON object of an oslo 2.0 envelope).",
        },
        "defaultContentType": "application/json",
    }
    servers = _servers(url)
    if servers:
        result["servers"] = servers
    result["channels"] = channels
    result["operations"] = operations
    result["components"] = {"messages": messages}
    return result


def _from_server(args: argparse.Namespace) -> list[dict[str, Any]]:
    from rpcmsg.cli._common import Session
    from rpcmsg.cli._ops import introspect

    with Session(args) as session:
        answer = introspect(session, args)
    described: list[dict[str, Any]] = answer["endpoints"]
    return described


def asyncapi(args: argparse.Namespace) -> int:
    """Print the document as JSON: of ``module:object``'s endpoints, or without it of the
    endpoints a running server of ``--topic`` (``--server``) describes."""
    if args.object is None:
        if not args.topic:
            raise CLIError("give module:object, or --topic of a running server to describe")
        described = _from_server(args)
        name = args.topic
    else:
        policy = DefaultRPCAccessPolicy()
        endpoints = endpoints_from(args.object)
        described = [describe_endpoint(e, policy.is_allowed) for e in endpoints]
        name = args.object.rpartition(":")[2] or args.object
    topic = args.topic or name.rsplit(".", 1)[-1].lower()
    result = document(described, topic, args.title or name, args.notification_topic, args.url)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return EXIT_OK
