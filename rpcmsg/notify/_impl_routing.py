"""The ``routing`` notification driver: sends each notification to the drivers a YAML file
chooses by event type and priority.

The file is named by ``[oslo_messaging_notifications]/routing_config`` (empty: nothing is
routed). It maps group names to drivers to rules; a driver gets a notification when, in at
least one group, each rule it has matches (a driver with no rules gets everything)::

    group_1:
      messagingv2:
        accepted_events: ["compute.instance.*"]     # fnmatch patterns on event_type
      log:
        accepted_priorities: ["info", "warn"]       # fnmatch patterns on the priority
    group_2:
      log:
        accepted_events: ["image.*"]
        accepted_priorities: ["error"]

The file is checked when the routing driver is built: one that is missing, not YAML or not
shaped as above, or that names ``routing`` itself or a driver that is not installed, raises
``DriverLoadFailure`` then, naming the problem. The drivers it names are loaded (with the
notifier's conf, topics and transport) by a stevedore ``DispatchExtensionManager``
(``plugin_manager``) over the ``rpcmsg.notify.drivers`` entry points, and
``_load_notifiers()``, ``_get_drivers_for_message()``, ``_filter_func()`` and
``_call_notify()`` are oslo.messaging's hooks of the same names. A driver that raises is
logged (by stevedore) and the others still get the notification, as in oslo.messaging.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Sequence
from typing import Any

import yaml
from oslo_config import cfg
from stevedore import dispatch
from stevedore.exception import NoMatches

from rpcmsg import _plugins
from rpcmsg.exceptions import DriverLoadFailure
from rpcmsg.notify.notifier import Driver
from rpcmsg.opts import NOTIFICATIONS_GROUP
from rpcmsg.transport import Transport

__all__ = ["RoutingDriver"]

LOG = logging.getLogger(__name__)

_RULES = ("accepted_events", "accepted_priorities")

Groups = dict[str, dict[str, dict[str, list[str]]]]


def load_routing_config(filename: str) -> Groups:
    """Read and check a routing file. Raises ``ValueError`` or ``OSError``."""
    with open(filename, encoding="utf-8") as stream:
        try:
            data = yaml.safe_load(stream)
        except yaml.YAMLError as exc:
            raise ValueError(f"{filename} is not YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{filename}: expected a mapping of groups, got {type(data).__name__}")
    groups: Groups = {}
    for group, drivers in data.items():
        if not isinstance(drivers, dict):
            raise ValueError(f"{filename}: group {group!r} must map driver names to rules")
        checked: dict[str, dict[str, list[str]]] = {}
        for driver, rules in drivers.items():
            rules = rules or {}
            if not isinstance(rules, dict):
                raise ValueError(f"{filename}: rules of {group}/{driver} must be a mapping")
            for key, patterns in rules.items():
                if key not in _RULES:
                    raise ValueError(f"{filename}: unknown rule {key!r} in {group}/{driver}")
                if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
                    raise ValueError(f"{filename}: {group}/{driver}/{key} must list strings")
            checked[str(driver)] = {k: list(v) for k, v in rules.items()}
        groups[str(group)] = checked
    return groups


def _accepts(rules: dict[str, list[str]], event_type: str, priority: str) -> bool:
    events = rules.get("accepted_events")
    if events is not None and not any(fnmatch.fnmatch(event_type, p) for p in events):
        return False
    priorities = rules.get("accepted_priorities")
    return priorities is None or any(fnmatch.fnmatch(priority, p.lower()) for p in priorities)


class RoutingDriver(Driver):
    """Routes notifications to other drivers; see the module docstring."""

    NOTIFIER_PLUGIN_NAMESPACE = _plugins.NOTIFY_DRIVER_NAMESPACE

    plugin_manager: Any = None
    routing_groups: Any = None  # group name -> driver name -> rules, from the file
    used_drivers: set[str] | None = None  # the driver names the file uses

    def __init__(self, conf: cfg.ConfigOpts, topics: Sequence[str], transport: Transport) -> None:
        super().__init__(conf, topics, transport)
        filename = conf[NOTIFICATIONS_GROUP].routing_config
        if not filename:
            return
        try:
            load_routing_config(filename)
        except (OSError, ValueError) as exc:
            raise DriverLoadFailure("routing", exc) from exc
        self._load_notifiers()
        assert self.used_drivers is not None
        if "routing" in self.used_drivers:
            raise DriverLoadFailure("routing", ValueError("routing cannot route to itself"))
        loaded = set(self.plugin_manager.names()) if self.plugin_manager else set()
        missing = sorted(self.used_drivers - loaded)
        if missing:
            raise DriverLoadFailure(
                missing[0],
                ValueError(f"named in {filename}, did not load"),
                _plugins.installed(_plugins.NOTIFY_DRIVER_NAMESPACE),
            )

    def _should_load_plugin(self, ext: Any, *args: Any, **kwargs: Any) -> bool:
        if ext.name == "routing":  # never load ourselves
            return False
        return ext.name in (self.used_drivers or ())

    def _get_notifier_config_file(self, filename: str) -> str:
        """The text of the routing file (a hook tests replace)."""
        with open(filename, encoding="utf-8") as stream:
            return stream.read()

    def _load_notifiers(self) -> None:
        """Read the routing file and load the drivers it names."""
        self.routing_groups = {}
        self.used_drivers = set()
        filename = self.conf[NOTIFICATIONS_GROUP].routing_config
        if not filename:
            return
        self.routing_groups = yaml.safe_load(self._get_notifier_config_file(filename))
        if not self.routing_groups:
            self.routing_groups = {}
            return
        for group in self.routing_groups.values():
            self.used_drivers.update(group.keys())
        LOG.debug("loading notifiers from %s", self.NOTIFIER_PLUGIN_NAMESPACE)
        self.plugin_manager = dispatch.DispatchExtensionManager(
            namespace=self.NOTIFIER_PLUGIN_NAMESPACE,
            check_func=self._should_load_plugin,
            invoke_on_load=True,
            invoke_args=(self.conf,),
            invoke_kwds={"topics": self.topics, "transport": self.transport},
        )
        if not list(self.plugin_manager):
            LOG.warning("Failed to load any notifiers for %s", self.NOTIFIER_PLUGIN_NAMESPACE)

    def _get_drivers_for_message(
        self, group: dict[str, Any], event_type: str, priority: str
    ) -> list[str]:
        """The drivers of one group that get a notification of this event type and
        priority (lower case)."""
        return [
            driver for driver, rules in group.items() if _accepts(rules or {}, event_type, priority)
        ]

    def _filter_func(
        self, ext: Any, context: Any, message: Any, priority: str, retry: Any, accepted: Any
    ) -> bool:
        return bool(ext.name in accepted)

    def _call_notify(
        self, ext: Any, context: Any, message: Any, priority: str, retry: Any, accepted: Any
    ) -> None:
        LOG.info(
            "Routing '%(event)s' notification to '%(driver)s' driver",
            {"event": message.get("event_type"), "driver": ext.name},
        )
        ext.obj.notify(context, message, priority, retry)

    def drivers_for(self, event_type: str, priority: str) -> list[str]:
        """Names of the drivers that get a notification of this event type and priority."""
        if self.routing_groups is None:
            self._load_notifiers()
        accepted: set[str] = set()
        for group in (self.routing_groups or {}).values():
            accepted.update(self._get_drivers_for_message(group, event_type, priority.lower()))
        return sorted(accepted)

    def notify(self, ctxt: Any, msg: dict[str, Any], priority: str, retry: int | None) -> None:
        if not self.plugin_manager:
            self._load_notifiers()
        if self.plugin_manager is None:
            return  # no routing file: nothing is routed
        accepted = self.drivers_for(msg["event_type"], priority)
        try:
            self.plugin_manager.map(
                self._filter_func, self._call_notify, ctxt, msg, priority, retry, accepted
            )
        except NoMatches:
            pass  # no driver loaded
