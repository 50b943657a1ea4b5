"""systemd/hedged.service: systemd accepts it, it is hardened, and it matches the daemon.

`systemd-analyze verify` must print nothing (unknown keys and bad values only warn, so any
output is a failure) and `systemd-analyze security` must rate the unit at 1.5 or below. Both
run on a copy whose ExecStart= names an executable that exists here (the real one lives in
/opt/hedged). The credential names of the unit and of hedged/secrets.py must agree.
"""

from __future__ import annotations

import codecs
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hedged import secrets
from hedged.config import EX_CONFIG, ConfigError, load
from hedged.secrets import load_credentials

SYSTEMD = Path(__file__).resolve().parent.parent / "systemd"
UNIT = SYSTEMD / "hedged.service"
SYSUSERS = SYSTEMD / "hedged.sysusers"
TMPFILES = SYSTEMD / "hedged.tmpfiles"

EXEC_START = "/opt/hedged/.venv/bin/hedged run --config /etc/hedged/hedged.toml"
CREDENTIALS = Path("/etc/hedged/credentials")
MAX_EXPOSURE = 1.5

ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed: cannot check the unit"
)

# Pinned so that an inherited SYSTEMD_LOG_LEVEL=err cannot hide the warnings we look for.
SYSTEMD_ENV = {
    **os.environ,
    "SYSTEMD_LOG_LEVEL": "info",
    "SYSTEMD_LOG_COLOR": "0",
    "SYSTEMD_COLORS": "0",
    "SYSTEMD_PAGER": "",
}


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """section -> key -> every value assigned, in order. Enough for this unit, which keeps every
    setting on one line (a continued line fails the parse)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"line {number} is outside any section: {raw!r}"
        assert "=" in line, f"line {number} is not KEY=VALUE: {raw!r}"
        assert not line.endswith("\\"), f"line {number} is continued: keep to one line"
        key, value = (part.strip() for part in line.split("=", 1))
        current.setdefault(key, []).append(value)
    return sections


UNIT_TEXT = UNIT.read_text(encoding="utf-8")
SERVICE = parse_unit(UNIT_TEXT)["Service"]


def single(key: str, section: dict[str, list[str]] = SERVICE) -> str:
    values = section.get(key, [])
    assert len(values) == 1, f"{key}= is assigned {len(values)} times, expected once"
    return values[0]


def runnable_copy(directory: Path, text: str = UNIT_TEXT) -> Path:
    """The unit, under its own name, with ExecStart= pointing at an executable that exists."""
    installed = Path(sys.executable).with_name("hedged")
    binary = installed if os.access(installed, os.X_OK) else Path(sys.executable)
    copy, count = re.subn(
        r"^ExecStart=\S+", lambda _: f"ExecStart={binary}", text, flags=re.MULTILINE
    )
    assert count == 1, "the unit must have exactly one ExecStart= line"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "hedged.service"
    path.write_text(copy, encoding="utf-8")
    return path


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, *args],
        capture_output=True,
        text=True,
        env=SYSTEMD_ENV,
        timeout=120,
        check=False,
    )


def verify(unit: Path) -> str:
    """Everything verify printed, plus its exit status when it is not 0."""
    result = analyze("verify", "--man=no", str(unit))
    status = f"[exit {result.returncode}]" if result.returncode else ""
    return f"{result.stdout}{result.stderr}{status}"


def exposure(unit: Path) -> tuple[float, str]:
    result = analyze("security", "--offline=true", "--no-pager", str(unit))
    report = f"{result.stdout}{result.stderr}"
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", report)
    assert found, f"no exposure level in the output of systemd-analyze security:\n{report}"
    return float(found[1]), report


# --- systemd's own checks ---------------------------------------------------------------------


@needs_analyze
def test_verify_prints_nothing(tmp_path: Path) -> None:
    output = verify(runnable_copy(tmp_path))
    assert output == "", f"systemd-analyze verify complained:\n{output}"


@needs_analyze
@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        pytest.param(("UMask=0077", "UMask=0077\nProtectSytem=strict"), "Unknown key", id="typo"),
        pytest.param(("WatchdogSec=30s", "WatchdogSec=soon"), "Failed to parse", id="bad-value"),
        pytest.param(
            ("[Service]", "[Service]\nLoadCredential=x:relative/path"),
            "not valid",
            id="bad-credential",
        ),
    ],
)
def test_verify_catches_a_broken_unit(
    tmp_path: Path, change: tuple[str, str], complaint: str
) -> None:
    old, new = change
    assert old in UNIT_TEXT
    broken = runnable_copy(tmp_path, UNIT_TEXT.replace(old, new, 1))
    output = verify(broken)
    assert complaint in output, f"expected {complaint!r}, got:\n{output}"


@needs_analyze
def test_verify_catches_a_missing_executable(tmp_path: Path) -> None:
    unit = tmp_path / "hedged.service"
    unit.write_text(UNIT_TEXT.replace(EXEC_START, f"{tmp_path}/missing/hedged run"))
    assert "missing/hedged" in verify(unit)


@needs_analyze
def test_security_exposure_at_most_1_5(tmp_path: Path) -> None:
    level, report = exposure(runnable_copy(tmp_path))
    assert level <= MAX_EXPOSURE, f"exposure {level} > {MAX_EXPOSURE}:\n{report}"


@needs_analyze
def test_security_check_can_fail(tmp_path: Path) -> None:
    """A unit with no hardening scores far above the limit: the parsing and threshold work."""
    bare = runnable_copy(tmp_path, "[Service]\nExecStart=/x run\n")
    level, report = exposure(bare)
    assert level > MAX_EXPOSURE, report


# --- the unit agrees with the daemon ----------------------------------------------------------


def credential_ids(key: str) -> list[str]:
    return [value.split(":", 1)[0] for value in SERVICE.get(key, [])]


def test_load_credential_names_are_the_ones_secrets_reads() -> None:
    ids = credential_ids("LoadCredential")
    assert len(ids) == len(set(ids)), f"a credential is loaded twice: {ids}"
    assert set(ids) == set(secrets._NAMES)
    for value in SERVICE["LoadCredential"]:
        name, path = value.split(":", 1)
        assert Path(path) == CREDENTIALS / name, f"{name} is loaded from {path}"


def test_each_credential_has_a_fallback_read_as_missing() -> None:
    """SetCredential= makes an absent file non-fatal; its value must count as missing."""
    fallbacks = dict(value.split(":", 1) for value in SERVICE.get("SetCredential", []))
    assert set(fallbacks) == set(credential_ids("LoadCredential"))
    for value in fallbacks.values():
        assert codecs.decode(value, "unicode_escape").strip() == ""


def credentials_directory(tmp_path: Path, values: dict[str, str]) -> dict[str, str]:
    """$CREDENTIALS_DIRECTORY as systemd would fill it from the unit: files for the given
    names, the SetCredential= fallback for the others."""
    directory = tmp_path / "credentials"
    directory.mkdir()
    for value in SERVICE["SetCredential"]:
        name, fallback = value.split(":", 1)
        data = values.get(name, codecs.decode(fallback, "unicode_escape"))
        (directory / name).write_text(data, encoding="utf-8")
    return {"CREDENTIALS_DIRECTORY": str(directory)}


@pytest.mark.parametrize(
    ("auth", "names"),
    [
        ("v3", ["aster_user", "aster_signer", "aster_signer_key"]),
        ("v1", ["aster_api_key", "aster_api_secret"]),
    ],
)
def test_daemon_reads_what_the_unit_loads(tmp_path: Path, auth: str, names: list[str]) -> None:
    # well-formed values (the daemon checks their shape): an agent key and its address, an
    # ED25519 seed and its public key
    shaped = {
        "aster_user": "0x" + "ab" * 20,
        "aster_signer": "0x23d8CeCeADa1F1b0b094a036081364FE44771Ccf",
        "aster_signer_key": "0x" + "5ec3e7" * 10 + "aaaa",
        "backpack_api_key": "k3rg2LC9WpUfh0JbRhJ9e7ObaNv2ThJWbPpDwoE7xYs=",
        "backpack_api_secret": "YnBzZWNyZXQtczNjcjN0LTQ0NDQtMDEyMzQ1Njc4OWE=",
    }
    value_of = {name: shaped.get(name, f"value-of-{name}") for name in [*names, *shaped]}
    values = {name: value_of[name] + "\n" for name in [*names, *list(shaped)[3:]]}
    cfg = load(overrides={"credentials.source": "systemd", "aster.auth": auth})
    creds = load_credentials(cfg, credentials_directory(tmp_path, values))
    assert creds.backpack.api_secret.reveal() == shaped["backpack_api_secret"]
    aster = creds.aster
    got = {
        "aster_user": aster.user,
        "aster_signer": aster.signer,
        "aster_signer_key": aster.signer_key and aster.signer_key.reveal(),
        "aster_api_key": aster.api_key and aster.api_key.reveal(),
        "aster_api_secret": aster.api_secret and aster.api_secret.reveal(),
    }
    assert got == {name: (value_of[name] if name in names else None) for name in got}


def test_missing_credential_files_are_a_config_error(tmp_path: Path) -> None:
    """Only fallbacks: the daemon names the first missing credential and exits 78, which the
    unit does not restart."""
    cfg = load(overrides={"credentials.source": "systemd"})
    with pytest.raises(ConfigError, match="aster_user"):
        load_credentials(cfg, credentials_directory(tmp_path, {}))
    assert str(EX_CONFIG) in single("RestartPreventExitStatus").split()


def seconds(value: str) -> float:
    found = re.fullmatch(r"(\d+)(s|min)?", value)
    assert found, f"unexpected time span {value!r}"
    return int(found[1]) * (60 if found[2] == "min" else 1)


def test_lifecycle_settings() -> None:
    unit = parse_unit(UNIT_TEXT)["Unit"]
    assert single("ExecStart") == EXEC_START
    assert single("Type") == "notify"
    assert single("NotifyAccess") == "main"
    assert single("Restart") == "on-failure"
    assert "StartLimitIntervalSec" in unit and "StartLimitBurst" in unit
    # the loop sends WATCHDOG=1 at least every poll interval: leave room for several misses
    poll = float(load().strategy.poll_interval_seconds)
    assert seconds(single("WatchdogSec")) >= 3 * poll
    assert single("StateDirectory") == "hedged"
    assert single("StateDirectoryMode") == "0700"
    assert single("UMask") == "0077"


def test_nothing_secret_in_the_environment() -> None:
    settings = " ".join(SERVICE.get("Environment", []) + SERVICE.get("EnvironmentFile", []))
    for name in secrets._NAMES:
        assert name.upper() not in settings.upper(), f"{name} must come from LoadCredential="


def test_user_is_created_by_sysusers() -> None:
    user = single("User")
    entries = [line.split() for line in SYSUSERS.read_text().splitlines() if line[:2] == "u "]
    assert [entry[1] for entry in entries] == [user]
    assert single("Group") == user


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="no systemd-sysusers")
@pytest.mark.skipif(shutil.which("systemd-tmpfiles") is None, reason="no systemd-tmpfiles")
@pytest.mark.skipif(os.geteuid() != 0, reason="systemd-tmpfiles must chown: run as root")
def test_sysusers_and_tmpfiles_apply(tmp_path: Path) -> None:
    for kind, source in (("sysusers.d", SYSUSERS), ("tmpfiles.d", TMPFILES)):
        (tmp_path / "etc" / kind).mkdir(parents=True)
        shutil.copy(source, tmp_path / "etc" / kind / "hedged.conf")
    for command in (["systemd-sysusers"], ["systemd-tmpfiles", "--create"]):
        result = subprocess.run(
            [*command, f"--root={tmp_path}", "hedged.conf"],
            capture_output=True,
            text=True,
            env=SYSTEMD_ENV,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    passwd = (tmp_path / "etc" / "passwd").read_text()
    hedged = next(line.split(":") for line in passwd.splitlines() if line.startswith("hedged:"))
    assert hedged[6] in ("/usr/sbin/nologin", "/sbin/nologin")
    config, credentials = tmp_path / "etc" / "hedged", tmp_path / "etc" / "hedged" / "credentials"
    assert (config.stat().st_mode & 0o777, config.stat().st_gid) == (0o750, int(hedged[3]))
    assert (credentials.stat().st_mode & 0o777, credentials.stat().st_uid) == (0o700, 0)
