"""What the figures were measured on: the machine, the Python, the code."""

from __future__ import annotations

import hashlib
import os
import platform
import sqlite3
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CODE_DIRS = ("hedged", "states", "adapters")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def filesystem(path: Path) -> str:
    try:
        out = subprocess.run(
            ["df", "-T", str(path)], capture_output=True, text=True, timeout=5, check=False
        ).stdout.splitlines()
        return out[1].split()[1] if len(out) > 1 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def code_fingerprint() -> dict[str, Any]:
    """A hash of the daemon's code as it was read (other engineers change the tree while
    benchmarks run: compare the hash at the start and at the end of a run)."""
    digest = hashlib.sha256()
    per_file = {}
    newest = 0.0
    for d in CODE_DIRS:
        for f in sorted((ROOT / d).rglob("*.py")):
            name = str(f.relative_to(ROOT))
            body = f.read_bytes()
            digest.update(name.encode())
            digest.update(body)
            per_file[name] = hashlib.sha256(body).hexdigest()[:12]
            newest = max(newest, f.stat().st_mtime)
    return {
        "sha256": digest.hexdigest()[:16],
        "files": len(per_file),
        "newest_change": datetime.fromtimestamp(newest, UTC).isoformat(timespec="seconds"),
        "per_file": per_file,
    }


def versions() -> dict[str, str]:
    out = {}
    for name in ("aiohttp", "SQLAlchemy", "sqlmodel", "eth-account", "eth-keys", "cryptography"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    out["sqlite"] = sqlite3.sqlite_version
    for name in ("coincurve", "uvloop"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


# The cores this process could use when it started, before `pin_roles` narrowed them.
USABLE = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
pinned: dict[str, list[int]] | None = None  # set by `pin_roles`: what runs where


def pin_roles() -> dict[str, list[int]] | None:
    """Give the daemon (this process) the first usable core to itself; the simulators
    (standing in for venues on machines of their own) and the disk probe go on the others
    (`pin_child`). So a simulator woken by an order cannot preempt the daemon between its
    two entry writes, as a remote venue could not. None with fewer than two cores."""
    global pinned
    if len(USABLE) >= 2:
        pinned = {"daemon": USABLE[:1], "venues": USABLE[1:]}
        os.sched_setaffinity(0, pinned["daemon"])
    return pinned


def pin_child(pid: int) -> None:
    """Move a simulator's or the probe's process to the venues' cores (if `pin_roles`)."""
    if pinned is not None:
        os.sched_setaffinity(pid, pinned["venues"])


def describe(results_dir: Path) -> dict[str, Any]:
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "cores_usable": len(USABLE) or None,
        "pinned": pinned,
        "cpu": cpu_model(),
        "memory_gb": memory_gb(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "db_filesystem": filesystem(results_dir),
        "load_average_start": os.getloadavg(),
        "packages": versions(),
        "code": code_fingerprint(),
    }


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields) - idle, sum(fields)


def busy_share(
    before: tuple[float, float] | None, after: tuple[float, float] | None
) -> float | None:
    """Share of all cores' time that was busy between two `cpu_times()` readings (this
    benchmark and whatever else runs on the machine)."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])
