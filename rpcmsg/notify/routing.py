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

The drivers named in the file are built with the notifier's topics and transport when the
routing driver is; ``routing`` cannot route to itself. A file that is missing, not YAML or
not shaped as above raises ``DriverLoadFailure`` then, naming the problem.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Sequence
from typing import Any

import yaml
from oslo_config import cfg

from rpcmsg.exceptions import DriverLoadFailure, MessageDeliveryFailure
from rpcmsg.notify.notifier import Driver, load_drivers
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

    def __init__(self, conf: cfg.ConfigOpts, topics: Sequence[str], transport: Transport) -> None:
        super().__init__(conf, topics, transport)
        filename = conf[NOTIFICATIONS_GROUP].routing_config
        try:
            self.routing_groups = load_routing_config(filename) if filename else {}
        except (OSError, ValueError) as exc:
            raise DriverLoadFailure("routing", exc) from exc
        names = sorted({d for group in self.routing_groups.values() for d in group})
        if "routing" in names:
            raise DriverLoadFailure("routing", ValueError("routing cannot route to itself"))
        self._drivers = dict(load_drivers(conf, names, topics, transport))

    def drivers_for(self, event_type: str, priority: str) -> list[str]:
        """Names of the drivers that get a notification of this event type and priority."""
        accepted = {
            name
            for group in self.routing_groups.values()
            for name, rules in group.items()
            if _accepts(rules, event_type, priority.lower())
        }
        return sorted(accepted)

    def notify(
        self, ctxt: dict[str, Any], msg: dict[str, Any], priority: str, retry: int | None
    ) -> None:
        errors = []
        for name in self.drivers_for(str(msg.get("event_type")), priority):
            LOG.debug("Routing notification %s to driver %s", msg.get("event_type"), name)
            try:
                self._drivers[name].notify(ctxt, msg, priority, retry)
            except Exception as exc:
                errors.append(f"{name}: {exc}")
        if errors:
            raise MessageDeliveryFailure("; ".join(errors))
