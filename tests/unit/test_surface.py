"""The public surface is pinned: a name added or removed must be a decision, not drift."""

from __future__ import annotations

import importlib

import pytest

import rpcmsg

# oslo.messaging's top-level public names (rpcmsg must offer every one of them).
OSLO_TOP_LEVEL = {
    "ClientSendError", "DefaultRPCAccessPolicy", "DriverLoadFailure", "ExecutorLoadFailure",
    "ExpectedException", "ExplicitRPCAccessPolicy", "InvalidTarget", "InvalidTransportURL",
    "JsonPayloadSerializer", "LegacyRPCAccessPolicy", "LoggingErrorNotificationHandler",
    "LoggingNotificationHandler", "MessageDeliveryFailure", "MessageHandlingServer",
    "MessageUndeliverable", "MessagingException", "MessagingServerError", "MessagingTimeout",
    "NoOpSerializer", "NoSuchMethod", "NotificationFilter", "NotificationResult", "Notifier",
    "PublishErrorsHandler", "RPCAccessPolicyBase", "RPCClient", "RPCDispatcher",
    "RPCDispatcherError", "RPCVersionCapError", "RemoteError", "Serializer",
    "ServerListenError", "Target", "Transport", "TransportHost", "TransportOptions",
    "TransportURL", "UnsupportedVersion", "expected_exceptions", "expose",
    "get_batch_notification_listener", "get_notification_listener",
    "get_notification_transport", "get_rpc_client", "get_rpc_server", "get_rpc_transport",
    "get_transport", "set_transport_defaults",
}  # fmt: skip

# Names rpcmsg exports beyond oslo.messaging's.
RPCMSG_EXTRA: set[str] = set()

SUBMODULES = {
    "rpcmsg.rpc": {"RPCClient", "get_rpc_client", "get_rpc_server", "RPCDispatcher", "expose"},
    "rpcmsg.rpc.client": {"RPCClient", "get_rpc_client", "RemoteError", "RPCVersionCapError"},
    "rpcmsg.rpc.server": {"get_rpc_server", "expected_exceptions", "expose"},
    "rpcmsg.rpc.dispatcher": {
        "NoSuchMethod", "RPCAccessPolicyBase", "LegacyRPCAccessPolicy", "DefaultRPCAccessPolicy",
        "ExplicitRPCAccessPolicy", "RPCDispatcher", "RPCDispatcherError", "UnsupportedVersion",
        "ExpectedException",
    },
    "rpcmsg.serializer": {"Serializer", "NoOpSerializer", "JsonPayloadSerializer"},
    "rpcmsg.exceptions": {
        "MessagingException", "MessagingTimeout", "MessageDeliveryFailure", "InvalidTarget",
        "MessageUndeliverable",
    },
    "rpcmsg.target": {"Target"},
    "rpcmsg.transport": {
        "DriverLoadFailure", "InvalidTransportURL", "Transport", "TransportHost", "TransportURL",
        "TransportOptions", "get_transport", "set_transport_defaults",
    },
    "rpcmsg.server": {
        "ExecutorLoadFailure", "MessageHandlingServer", "MessagingServerError", "ServerListenError",
    },
    "rpcmsg.conffixture": {"ConfFixture"},
    "rpcmsg.notify": {
        "Notifier", "NotificationResult", "NotificationFilter", "get_notification_listener",
        "get_batch_notification_listener", "get_notification_transport",
        "LoggingNotificationHandler", "LoggingErrorNotificationHandler", "PublishErrorsHandler",
    },
    # Not imported by rpcmsg.notify, as in oslo.messaging: paste files name the module.
    "rpcmsg.notify.middleware": {"RequestNotifier", "log_and_ignore_error"},
}  # fmt: skip


def test_top_level_all_is_exactly_the_public_surface() -> None:
    assert set(rpcmsg.__all__) == OSLO_TOP_LEVEL | RPCMSG_EXTRA
    assert len(rpcmsg.__all__) == len(set(rpcmsg.__all__))
    for name in rpcmsg.__all__:
        assert getattr(rpcmsg, name) is not None


@pytest.mark.parametrize("module", sorted(SUBMODULES))
def test_submodules_users_import(module: str) -> None:
    mod = importlib.import_module(module)
    missing = {name for name in SUBMODULES[module] if not hasattr(mod, name)}
    assert not missing
    exported = set(getattr(mod, "__all__", ()))
    assert SUBMODULES[module] <= exported


def test_exception_tree_has_one_root() -> None:
    from rpcmsg import exceptions

    for name in exceptions.__all__:
        cls = getattr(exceptions, name)
        assert issubclass(cls, exceptions.MessagingException), name


def test_drop_in_alias_program() -> None:
    """A program written for oslo.messaging, run with ``import rpcmsg as oslo_messaging``."""
    from oslo_config import cfg

    import rpcmsg as oslo_messaging

    conf = cfg.ConfigOpts()
    conf([])
    transport = oslo_messaging.get_rpc_transport(conf, url="fake:///drop-in")
    target = oslo_messaging.Target(topic="testtopic", server="server1", version="1.0")

    class TestEndpoint:
        target = oslo_messaging.Target(namespace="test", version="1.2")

        def test(self, ctx: dict[str, str], arg: str) -> str:
            return arg + "!"

    server = oslo_messaging.get_rpc_server(
        transport, target, [TestEndpoint()], executor="threading",
        access_policy=oslo_messaging.DefaultRPCAccessPolicy,
    )  # fmt: skip
    server.start()
    try:
        client = oslo_messaging.get_rpc_client(
            transport, oslo_messaging.Target(topic="testtopic"), version_cap="1.2"
        )
        cctxt = client.prepare(namespace="test", version="1.2", timeout=5)
        assert cctxt.call({"user": "u"}, "test", arg="hi") == "hi!"
        assert not client.can_send_version("1.3")
        try:
            cctxt.call({}, "missing")
        except oslo_messaging.RemoteError as exc:  # as oslo: its module is not allowed
            assert exc.exc_type == "NoSuchMethod"
        else:  # pragma: no cover
            raise AssertionError("RemoteError not raised")
    finally:
        server.stop()
        server.wait()
        transport.cleanup()
