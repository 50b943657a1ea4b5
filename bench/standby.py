"""A standby daemon beside the benchmark's leader: a `hedged run` process on the same store,
with the same simulators and keys (Aster V1), that cannot take the lease while the leader
holds it. It streams prices, reads the lease every `lease_seconds / 12` and checks in every
5 s: what a hot standby costs the leader is measured by running a scenario with and without.
It runs on the simulators' core, not the leader's: a standby on a second host shares no CPU
with the leader, only the store, and the store is what this measures.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from bench import machine
from bench.rig import SYMBOLS, Rig
from hedged.leadership import STANDBY
from hedged.legs import ASTER, BACKPACK


class Standby:
    def __init__(self, rig: Rig, workdir: Path) -> None:
        assert rig.keys.auth == "v1", "the standby signs with the V1 keys of the rig"
        workdir.mkdir(parents=True, exist_ok=True)
        creds = workdir / "credentials.toml"
        creds.write_text(
            f"[aster]\napi_key = '{rig.keys.aster.api_key.reveal()}'\n"  # type: ignore[union-attr]
            f"api_secret = '{rig.keys.aster.api_secret.reveal()}'\n"  # type: ignore[union-attr]
            f"[backpack]\napi_key = '{rig.keys.backpack.api_key.reveal()}'\n"
            f"api_secret = '{rig.keys.backpack.api_secret.reveal()}'\n"
        )
        creds.chmod(0o600)
        self.config = workdir / "standby.toml"
        self.config.write_text(
            "[strategy]\nposition_size_usdt = 25\n"
            f"[pair]\naster_symbol = '{SYMBOLS[ASTER]}'\nbackpack_symbol = '{SYMBOLS[BACKPACK]}'\n"
            f"[aster]\nauth = 'v1'\nbase_url = '{rig.sims.url(ASTER)}'\n"
            f"ws_url = '{rig.sims.url(ASTER, 'ws')}'\n"
            f"[backpack]\nbase_url = '{rig.sims.url(BACKPACK)}'\n"
            f"ws_url = '{rig.sims.url(BACKPACK, 'ws')}'\n"
            f"[credentials]\nsource = 'file'\nfile = '{creds}'\n"
            f"[daemon]\nstate_dir = '{workdir}'\nlog_format = 'text'\n"
            f"[store]\nurl = '{rig.store.url}'\n"
        )
        self.rig = rig
        self.log = (workdir / "standby.log").open("ab")
        self.proc: subprocess.Popen[bytes] | None = None
        self._cpu_start = (0.0, 0.0)  # (monotonic, CPU seconds) when it started

    async def start(self, timeout: float = 60.0) -> None:
        """Until the standby has checked in as one."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEDGED_")}
        env.pop("NOTIFY_SOCKET", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hedged.cli", "run", "--config", str(self.config)],
            stdout=self.log,
            stderr=self.log,
            env=env,
        )
        machine.pin_child(self.proc.pid)
        self._cpu_start = (time.monotonic(), self.cpu_seconds())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the standby exited with {self.proc.returncode}")
            rows, _ = self.rig.store.daemons()
            if any(r.pid == self.proc.pid and r.role == STANDBY for r in rows):
                return
            await asyncio.sleep(0.1)
        raise TimeoutError("the standby did not check in")

    def cpu_seconds(self) -> float:
        """User plus system CPU time the standby has used so far (Linux /proc)."""
        assert self.proc is not None
        return machine.process_cpu_seconds(self.proc.pid)

    def cpu_share(self) -> float:
        """The share of one core the standby has used since it started."""
        began, used = self._cpu_start
        return (self.cpu_seconds() - used) / max(time.monotonic() - began, 1e-9)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self.log.close()
