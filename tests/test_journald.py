"""hedged.journald over real AF_UNIX sockets, and the log format choice of hedged.cli."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hedged import config
from hedged.cli import parser, setup_logging
from hedged.journald import FIELDS, JournalHandler, under_journald
from hedged.states.machine import State

EXTRAS = {"round_id": 42, "venue": "aster", "client_id": "hx1-42-0", "state": State.MONITORING}
JOURNAL_EXTRAS = {
    "ROUND_ID": "42",
    "VENUE": "aster",
    "CLIENT_ORDER_ID": "hx1-42-0",
    "ROUND_STATE": "MONITORING",
}


def parse(data: bytes) -> dict[str, str]:
    """journald's native format: `KEY=value\\n`, or `KEY\\n` + u64 LE length + value + `\\n`."""
    fields: dict[str, str] = {}
    while data:
        line, _, rest = data.partition(b"\n")
        if b"=" in line:
            key, _, value = line.partition(b"=")
            data = rest
        else:
            key = line
            (size,) = struct.unpack("<Q", rest[:8])
            value, end = rest[8 : 8 + size], rest[8 + size : 9 + size]
            assert len(value) == size and end == b"\n"
            data = rest[9 + size :]
        assert re.fullmatch(rb"[A-Z0-9][A-Z0-9_]*", key), key
        assert key.decode() not in fields
        fields[key.decode()] = value.decode()
    return fields


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[socket.socket]:
    """A stand-in for journald: a datagram socket bound in tmp_path."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "journal.sock"))
    sock.settimeout(5)
    yield sock
    sock.close()


def receive(sock: socket.socket) -> tuple[bytes, dict[str, str]]:
    """The next datagram, raw and parsed (it must carry its fields, not a memfd)."""
    data, fds, _, _ = socket.recv_fds(sock, 1 << 20, 1)
    assert fds == []
    return data, parse(data)


@pytest.fixture
def log(journal: socket.socket) -> Iterator[logging.Logger]:
    """A logger whose only handler is a JournalHandler pointed at `journal`."""
    logger = logging.getLogger("hedged.test_journald")
    handler = JournalHandler(journal.getsockname())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger
    logger.removeHandler(handler)
    handler.close()
    logger.propagate = True


def caller_line() -> int:
    return sys._getframe(1).f_lineno


def test_a_plain_record_carries_message_priority_and_code_location(
    log: logging.Logger, journal: socket.socket
) -> None:
    line = caller_line() + 1
    log.info("round %s: %s", 7, "opened")
    _, fields = receive(journal)
    assert fields == {
        "MESSAGE": "round 7: opened",
        "PRIORITY": "6",
        "SYSLOG_IDENTIFIER": "hedged",
        "LOGGER": "hedged.test_journald",
        "CODE_FILE": __file__,
        "CODE_LINE": str(line),
        "CODE_FUNC": "test_a_plain_record_carries_message_priority_and_code_location",
    }


def test_structured_fields_from_extra(log: logging.Logger, journal: socket.socket) -> None:
    log.info("placed", extra={**EXTRAS, "other": "not a journal field"})
    _, fields = receive(journal)
    assert {k: fields[k] for k in FIELDS.values()} == JOURNAL_EXTRAS
    assert set(fields) == {*JOURNAL_EXTRAS, "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER"} | {
        "LOGGER",
        "CODE_FILE",
        "CODE_LINE",
        "CODE_FUNC",
    }
    # a subset, and None counts as absent
    log.info("placed", extra={"venue": "backpack", "round_id": None})
    _, fields = receive(journal)
    assert fields["VENUE"] == "backpack"
    assert not {"ROUND_ID", "CLIENT_ORDER_ID", "ROUND_STATE"} & set(fields)


@pytest.mark.parametrize(
    ("level", "priority"),
    [
        (logging.DEBUG, "7"),
        (logging.INFO, "6"),
        (logging.WARNING, "4"),
        (logging.ERROR, "3"),
        (logging.CRITICAL, "2"),
        (logging.INFO + 5, "6"),  # a custom level takes the priority of the level below it
    ],
)
def test_priority(log: logging.Logger, journal: socket.socket, level: int, priority: str) -> None:
    log.log(level, "x")
    assert receive(journal)[1]["PRIORITY"] == priority


def test_a_multi_line_message_uses_the_length_encoding(
    log: logging.Logger, journal: socket.socket
) -> None:
    message = "first line\nsecond line = with an equals sign\n"
    log.warning(message, extra={"venue": "two\nlines"})
    raw, fields = receive(journal)
    encoded = message.encode()
    assert b"MESSAGE\n" + struct.pack("<Q", len(encoded)) + encoded + b"\n" in raw
    assert b"VENUE\n" + struct.pack("<Q", 9) + b"two\nlines\n" in raw
    assert fields["MESSAGE"] == message
    assert fields["VENUE"] == "two\nlines"
    assert fields["PRIORITY"] == "4"


def test_an_exception_goes_into_the_message(log: logging.Logger, journal: socket.socket) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("round %s: failed", 3, extra={"round_id": 3})
    _, fields = receive(journal)
    assert fields["MESSAGE"].startswith("round 3: failed\nTraceback (most recent call last):\n")
    assert fields["MESSAGE"].endswith("ValueError: boom")
    assert fields["PRIORITY"] == "3"
    assert fields["ROUND_ID"] == "3"


def test_a_record_too_large_for_a_datagram_goes_through_a_sealed_memfd(
    log: logging.Logger, journal: socket.socket
) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe:
        limit = probe.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)  # a datagram's ceiling
    message = "".join(f"{i:07d} " for i in range(2 * limit // 8))
    assert len(message) >= 2 * limit - 8
    log.info(message, extra={"round_id": 9})

    data, fds, _, _ = socket.recv_fds(journal, 1 << 16, 1)
    assert data == b"" and len(fds) == 1  # journald wants the fd alone
    with open(fds[0], "rb") as memfd:
        seals = fcntl.fcntl(memfd, fcntl.F_GET_SEALS)
        memfd.seek(0)  # the offset is shared with the sender's writes (journald mmaps instead)
        content = memfd.read()
    wanted = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL
    assert seals & wanted == wanted
    fields = parse(content)
    assert fields["MESSAGE"] == message
    assert fields["ROUND_ID"] == "9"
    assert fields["PRIORITY"] == "6"


def test_no_journal_socket_drops_the_record_silently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = JournalHandler(str(tmp_path / "absent.sock"))
    handler.handle(logging.makeLogRecord({"msg": "nobody listens", "levelno": logging.INFO}))
    handler.close()
    assert capsys.readouterr().err == ""


def test_a_broken_journal_is_reported_on_stderr_not_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_socket = tmp_path / "plain-file"
    not_a_socket.write_text("")
    handler = JournalHandler(str(not_a_socket))
    handler.handle(logging.makeLogRecord({"msg": "refused", "levelno": logging.INFO}))
    handler.close()
    assert "--- Logging error ---" in capsys.readouterr().err


def stream_of(path: Path) -> str:
    """$JOURNAL_STREAM as systemd would set it for a stderr open on path."""
    st = path.stat()
    return f"{st.st_dev}:{st.st_ino}"


def test_under_journald(tmp_path: Path) -> None:
    stderr, other = tmp_path / "stderr", tmp_path / "other"
    stderr.write_text("")
    other.write_text("")
    with stderr.open("w") as f:
        fd = f.fileno()
        assert under_journald({"JOURNAL_STREAM": stream_of(stderr)}, fd)
        assert not under_journald({"JOURNAL_STREAM": stream_of(other)}, fd)
        assert not under_journald({}, fd)
        for garbage in ("", "1", "a:b", "1:2:3"):
            assert not under_journald({"JOURNAL_STREAM": garbage}, fd)
    assert not under_journald({"JOURNAL_STREAM": stream_of(stderr)}, fd)  # closed fd


# --- hedged.cli.setup_logging ----------------------------------------------------------------


@pytest.fixture
def root_logging() -> Iterator[None]:
    """setup_logging replaces the root logger's handlers: put them back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("root_logging")
@pytest.mark.parametrize("fmt", ["auto", "journal"])
def test_setup_logging_sends_to_the_journal(
    tmp_path: Path, journal: socket.socket, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    stderr = tmp_path / "stderr"
    stderr.write_text("")
    environ = {"JOURNAL_STREAM": stream_of(stderr), "HEDGED_JOURNAL_SOCKET": journal.getsockname()}
    with stderr.open("w") as f:
        setup_logging("INFO", fmt, environ, f.fileno())
    logging.getLogger("hedged.engine").debug("below the level")
    logging.getLogger("hedged.engine").info("round 42: opened", extra=EXTRAS)
    _, fields = receive(journal)
    assert fields["MESSAGE"] == "round 42: opened"
    assert fields["LOGGER"] == "hedged.engine"
    assert {k: fields[k] for k in JOURNAL_EXTRAS} == JOURNAL_EXTRAS
    assert capsys.readouterr().err == ""


@pytest.mark.usefixtures("root_logging")
def test_setup_logging_auto_is_text_when_stderr_is_not_the_journal(
    tmp_path: Path, journal: socket.socket, capsys: pytest.CaptureFixture[str]
) -> None:
    stderr, other = tmp_path / "stderr", tmp_path / "other"
    stderr.write_text("")
    other.write_text("")
    environ = {"JOURNAL_STREAM": stream_of(other), "HEDGED_JOURNAL_SOCKET": journal.getsockname()}
    with stderr.open("w") as f:
        setup_logging("INFO", "auto", environ, f.fileno())
    logging.getLogger("hedged.engine").info("round 42: opened", extra=EXTRAS)
    logging.getLogger("hedged.engine").info("no fields")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].endswith(
        "INFO    hedged.engine: round 42: opened "
        "[round_id=42 venue=aster client_id=hx1-42-0 state=MONITORING]"
    )
    assert lines[1].endswith("INFO    hedged.engine: no fields")
    journal.setblocking(False)
    with pytest.raises(BlockingIOError):
        journal.recv(1)


@pytest.mark.usefixtures("root_logging")
def test_setup_logging_json_carries_the_fields(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", "json", {})
    logging.getLogger("hedged.orders").warning("sent", extra=EXTRAS)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("hedged.orders").exception("plain")
    first, second = map(json.loads, capsys.readouterr().err.splitlines())
    assert (
        first.items()
        >= {
            "level": "WARNING",
            "logger": "hedged.orders",
            "msg": "sent",
            "round_id": 42,
            "venue": "aster",
            "client_id": "hx1-42-0",
            "state": "MONITORING",
        }.items()
    )
    assert second["msg"] == "plain" and second["exc"].endswith("ValueError: boom")
    assert not set(FIELDS) & set(second)


def test_the_daemon_selects_the_journal_by_itself(tmp_path: Path, journal: socket.socket) -> None:
    """A real process whose stderr (fd 2) is the file $JOURNAL_STREAM names, as under systemd."""
    stderr = tmp_path / "stderr"
    stderr.write_text("")
    code = (
        "import logging; from hedged.cli import setup_logging; setup_logging('INFO', 'auto'); "
        "logging.getLogger('hedged.engine').info('round 5: opened', "
        "extra={'round_id': 5, 'venue': 'backpack'})"
    )
    env = {
        **os.environ,
        "JOURNAL_STREAM": stream_of(stderr),
        "HEDGED_JOURNAL_SOCKET": journal.getsockname(),
    }
    with stderr.open("w") as f:
        subprocess.run([sys.executable, "-c", code], stderr=f, env=env, check=True, timeout=60)
    _, fields = receive(journal)
    assert fields["MESSAGE"] == "round 5: opened"
    assert fields["ROUND_ID"] == "5" and fields["VENUE"] == "backpack"
    assert fields["SYSLOG_IDENTIFIER"] == "hedged"
    assert stderr.read_text() == ""


@pytest.mark.parametrize("fmt", ["auto", "text", "json", "journal"])
def test_log_format_choices(fmt: str) -> None:
    cfg = config.load(None, overrides={"daemon.log_format": fmt})
    assert cfg.daemon.log_format == fmt
    assert parser().parse_args(["run", "--log-format", fmt]).log_format == fmt
