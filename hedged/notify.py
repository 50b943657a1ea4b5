"""sd_notify: READY, WATCHDOG, STATUS, STOPPING to systemd; nothing without systemd.

Uses systemd-python when it is installed, else writes the datagram itself (the protocol is
one sendto on $NOTIFY_SOCKET)."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable

log = logging.getLogger(__name__)

Notify = Callable[..., None]


def _socket_notify(address: str) -> Notify:
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    def notify(**fields: str) -> None:
        message = "\n".join(f"{k}={v}" for k, v in fields.items()).encode()
        try:
            sock.sendto(message, address)
        except OSError as e:  # systemd going away must not stop trading
            log.warning("sd_notify failed: %s", e)

    return notify


def systemd_notifier(environ: os._Environ[str] | dict[str, str] = os.environ) -> Notify:
    address = environ.get("NOTIFY_SOCKET")
    if not address:
        return lambda **fields: None
    try:
        from systemd import daemon  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return _socket_notify(address)

    def notify(**fields: str) -> None:
        daemon.notify("\n".join(f"{k}={v}" for k, v in fields.items()))

    return notify
