"""Logging to journald with structured fields, by its native protocol (no libsystemd needed).

Each record is one datagram to journald's AF_UNIX socket: fields `KEY=value\\n`, or for a value
holding a newline `KEY\\n` + its length (64-bit little-endian) + value + `\\n`. A record too
large for a datagram goes as a sealed memfd passed with SCM_RIGHTS, as sd_journal_sendv() does
(https://systemd.io/JOURNAL_NATIVE_PROTOCOL/).

$HEDGED_JOURNAL_SOCKET overrides the socket path (the tests use it to receive the records).
"""

from __future__ import annotations

import array
import errno
import fcntl
import logging
import os
import socket
import struct
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

SOCKET: Final = "/run/systemd/journal/socket"
SOCKET_ENV: Final = "HEDGED_JOURNAL_SOCKET"
IDENTIFIER: Final = "hedged"

# Record attribute (set with logging's extra=) -> journal field. The text and json log formats
# show the same attributes under their own names.
FIELDS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "round_id": "ROUND_ID",
        "venue": "VENUE",
        "client_id": "CLIENT_ORDER_ID",
        "state": "ROUND_STATE",
    }
)

_PRIORITIES = (  # logging level -> syslog priority, highest first
    (logging.CRITICAL, 2),
    (logging.ERROR, 3),
    (logging.WARNING, 4),
    (logging.INFO, 6),
)
# The errors on which sd_journal_sendv() retries through a memfd.
_TOO_LARGE = (errno.EMSGSIZE, errno.ENOBUFS, errno.EAGAIN)
# journald refuses an unsealed memfd from an unprivileged sender.
_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL


def record_fields(record: logging.LogRecord) -> dict[str, object]:
    """The structured attributes of FIELDS that the record carries (None counts as absent)."""
    found = {attr: getattr(record, attr, None) for attr in FIELDS}
    return {attr: value for attr, value in found.items() if value is not None}


def socket_path(environ: Mapping[str, str] = os.environ) -> str:
    return environ.get(SOCKET_ENV) or SOCKET


def under_journald(environ: Mapping[str, str] = os.environ, stderr_fd: int = 2) -> bool:
    """Whether stderr is journald's stream: systemd sets $JOURNAL_STREAM to its "dev:inode"."""
    try:
        dev, inode = environ["JOURNAL_STREAM"].split(":")
        st = os.fstat(stderr_fd)
        return (int(dev), int(inode)) == (st.st_dev, st.st_ino)
    except (KeyError, ValueError, OSError):
        return False


def _field(key: str, value: object) -> bytes:
    data = str(value).encode("utf-8", "replace")
    if b"\n" in data:
        return key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
    return key.encode() + b"=" + data + b"\n"


def _priority(levelno: int) -> int:
    return next((prio for level, prio in _PRIORITIES if levelno >= level), 7)


class JournalHandler(logging.Handler):
    """Sends each record to journald with MESSAGE, PRIORITY, the code location and FIELDS."""

    def __init__(self, path: str = SOCKET) -> None:
        super().__init__()
        # The message alone (plus any traceback); set here so basicConfig() keeps its hands off.
        self.setFormatter(logging.Formatter("%(message)s"))
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    def serialize(self, record: logging.LogRecord) -> bytes:
        fields: dict[str, object] = {
            "MESSAGE": self.format(record),
            "PRIORITY": _priority(record.levelno),
            "SYSLOG_IDENTIFIER": IDENTIFIER,
            "LOGGER": record.name,
            "CODE_FILE": record.pathname,
            "CODE_LINE": record.lineno,
            "CODE_FUNC": record.funcName,
        }
        for attr, value in record_fields(record).items():
            fields[FIELDS[attr]] = value
        return b"".join(_field(key, value) for key, value in fields.items())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._send(self.serialize(record))
        except Exception:
            self.handleError(record)  # never raises: logging must not stop trading

    def _send(self, data: bytes) -> None:
        try:
            self._sock.sendto(data, self.path)
        except FileNotFoundError:
            pass  # no journal at all: drop the record, as sd_journal_sendv() does
        except OSError as e:
            if e.errno not in _TOO_LARGE:
                raise
            self._send_memfd(data)

    def _send_memfd(self, data: bytes) -> None:
        fd = os.memfd_create("hedged-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
            # An empty payload with the fd; socket.send_fds() cannot take an address.
            rights = (socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))
            self._sock.sendmsg([], [rights], 0, self.path)
        finally:
            os.close(fd)

    def close(self) -> None:
        self._sock.close()
        super().close()
