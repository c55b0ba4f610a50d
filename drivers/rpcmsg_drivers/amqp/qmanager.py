"""Stable reply and fanout queue names (``use_queue_manager``), as oslo.messaging builds them.

A name is ``<hostname>:<processname>:<n>``: reply queues are ``reply_<name>``, fanout queues
``<topic>_fanout_<name>``. ``n`` counts the names taken by one *generation* of a service (its
process group: the master and the workers it forked) on this host, in a counter file shared
with oslo.messaging, ``/dev/shm/<hostname>_<processname>_qmanager``, holding
``<process group>:<n>:<start time of the group leader>``. A restarted service is a new
generation, so its counter starts at 1 again and it takes the same names (and queues) as the
one before it; the broker expires what nobody takes again (``rabbit_transient_queues_ttl``).

Processes of one generation take names under an exclusive lock of the counter file
(``flock``), so two never get the same number. (oslo.messaging takes its own external lock
instead: an rpcmsg and an oslo.messaging process with the same hostname and processname
starting at the same instant could read the same counter.)
"""

from __future__ import annotations

import fcntl
import os

__all__ = ["QueueManager"]

#: Where the counter files live (shared memory, gone at reboot), as in oslo.messaging.
DIRECTORY = "/dev/shm"


def _generation() -> tuple[int, int]:
    """(process group, start time of its leader in clock ticks since boot): the identity of
    this service generation. Read at each call: a supervisor may call ``setsid`` after the
    transport was made."""
    group = os.getpgrp()
    leader = group or os.getpid()  # some container runtimes leave the group id 0
    try:
        with open(f"/proc/{leader}/stat") as f:
            stat = f.read()
        # Fields after the command name (which may hold spaces); starttime is field 22.
        start = int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        start = 0
    return group, start


class QueueManager:
    """Hands out ``<hostname>:<processname>:<n>`` names; see the module docstring."""

    def __init__(self, hostname: str, processname: str, directory: str = DIRECTORY) -> None:
        self.hostname = hostname
        self.processname = processname
        self.path = os.path.join(directory, f"{hostname}_{processname}_qmanager")

    def next_name(self) -> str:
        group, start = _generation()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with os.fdopen(os.dup(fd), "r+") as f:
                try:
                    old_group, old_count, old_start = (int(v) for v in f.readline().split(":"))
                except ValueError:  # a new or unreadable file: a new generation
                    old_group, old_count, old_start = group, 0, start
                same = (old_group, old_start) == (group, start)
                count = old_count + 1 if same else 1
                f.seek(0)
                f.truncate()
                f.write(f"{group}:{count}:{start}")
        finally:
            os.close(fd)  # releases the lock
        return f"{self.hostname}:{self.processname}:{count}"
