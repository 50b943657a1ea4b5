"""Venue credentials, from the environment, an owner-only file or systemd
(docs/architecture.md#configuration-and-secrets).

Values are wrapped in Secret so they never show in a repr, a log line or an error message;
errors name the missing or faulty credential, never its value.
"""

from __future__ import annotations

import hmac
import os
import re
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hedged.config import Config, ConfigError
from hedged.keys import address_of, public_key_b64

if sys.version_info >= (3, 11):  # noqa: UP036 -- tomli fallback kept for older interpreters
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ENVIRONMENT = "<environment>"

# Canonical names; each source spells them its own way (see _LABELS).
_NAMES = (
    "aster_user",
    "aster_signer",
    "aster_signer_key",
    "aster_api_key",
    "aster_api_secret",
    "backpack_api_key",
    "backpack_api_secret",
)
_REQUIRED = {
    "v3": ("aster_user", "aster_signer", "aster_signer_key"),
    "v1": ("aster_api_key", "aster_api_secret"),
}
_BACKPACK_REQUIRED = ("backpack_api_key", "backpack_api_secret")


class Secret:
    """A credential value that shows itself only through reveal()."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__

    # Defining __eq__ leaves Secret unhashable: a hash would be a function of the value.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())


@dataclass(frozen=True)
class AsterCredentials:
    user: str | None
    signer: str | None
    signer_key: Secret | None
    api_key: Secret | None
    api_secret: Secret | None


@dataclass(frozen=True)
class BackpackCredentials:
    api_key: Secret
    api_secret: Secret


@dataclass(frozen=True)
class Credentials:
    aster: AsterCredentials
    backpack: BackpackCredentials


# --- sources: each returns (where the values came from, canonical name -> value) -------------

_Found = tuple[str, dict[str, str]]


def _from_env(cfg: Config, environ: Mapping[str, str]) -> _Found:
    names = {name: f"HEDGED_{name.upper()}" for name in _NAMES}
    return ENVIRONMENT, {name: environ[var] for name, var in names.items() if var in environ}


def _from_systemd(cfg: Config, environ: Mapping[str, str]) -> _Found:
    directory = environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        raise ConfigError(
            ENVIRONMENT, "CREDENTIALS_DIRECTORY", "not set; give the unit LoadCredential= lines"
        )
    found: dict[str, str] = {}
    for name in _NAMES:
        path = Path(directory, name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except OSError as e:
            raise ConfigError(str(path), name, f"unreadable: {e.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(str(path), name, "not valid UTF-8") from None
        found[name] = text.removesuffix("\n")
    return directory, found


def _read_private(path: Path) -> bytes:
    """The file's bytes, if it is ours and closed to group and others (checked on the open fd)."""
    where = str(path)
    try:
        with path.open("rb") as f:
            st = os.fstat(f.fileno())
            if st.st_uid != os.geteuid():
                raise ConfigError(
                    where,
                    "credentials.file",
                    f"is owned by uid {st.st_uid}, not by this user (uid {os.geteuid()}); chown it",
                )
            if st.st_mode & 0o077:
                mode = f"{stat.S_IMODE(st.st_mode):04o}"
                raise ConfigError(
                    where,
                    "credentials.file",
                    f"is readable by group or others (mode {mode}); chmod 600 it",
                )
            return f.read()
    except OSError as e:
        raise ConfigError(where, "credentials.file", e.strerror or "cannot be read") from None


def _from_file(cfg: Config, environ: Mapping[str, str]) -> _Found:
    path = cfg.credentials.file
    if path is None:
        raise ConfigError(
            cfg.source, "credentials.file", "required when credentials.source = 'file'"
        )
    where = str(path)
    try:
        document = tomllib.loads(_read_private(path).decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(where, "<toml>", "not valid UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        # the parser's message may quote a character of the file: keep only the position
        position = re.search(r"\(at [^)]*\)", str(e))
        raise ConfigError(
            where, "<toml>", f"malformed TOML {position[0] if position else ''}".rstrip()
        ) from None
    found: dict[str, str] = {}
    for section, table in document.items():
        if section not in ("aster", "backpack") or not isinstance(table, dict):
            raise ConfigError(where, section, "unknown section (expected [aster] and [backpack])")
        for key, value in table.items():
            name = f"{section}_{key}"
            if name not in _NAMES:
                raise ConfigError(where, f"{section}.{key}", "unknown key")
            if not isinstance(value, str):
                raise ConfigError(where, f"{section}.{key}", "expected a string")
            found[name] = value
    return where, found


_SOURCES: dict[str, Callable[[Config, Mapping[str, str]], _Found]] = {
    "env": _from_env,
    "file": _from_file,
    "systemd": _from_systemd,
}
_LABELS: dict[str, Callable[[str], str]] = {
    "env": lambda name: f"HEDGED_{name.upper()}",
    "file": lambda name: name.replace("_", ".", 1),
    "systemd": lambda name: name,
}


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def _check_values(
    found: Mapping[str, str], where: str, label: Callable[[str], str], auth: str
) -> None:
    """Refuse, before any venue is contacted, a value no venue could accept; the error names
    the credential and never shows its value."""

    def refuse(name: str, problem: str) -> ConfigError:
        return ConfigError(where, label(name), problem)

    for name, value in found.items():
        if _CONTROL.search(value):
            raise refuse(name, "contains a control character (a line break or carriage return?)")
    try:
        public = public_key_b64(found["backpack_api_secret"])
    except ValueError:
        raise refuse(
            "backpack_api_secret", "not a base64 ED25519 secret (32 or 64 bytes)"
        ) from None
    if public != found["backpack_api_key"]:
        raise refuse("backpack_api_key", "is not the public key of backpack_api_secret")
    if auth != "v3":
        return
    for name in ("aster_user", "aster_signer"):
        if name in found and not _ADDRESS.fullmatch(found[name]):
            raise refuse(name, "not an address (0x and 40 hex digits)")
    try:
        signer = address_of(found["aster_signer_key"])
    except ValueError:
        raise refuse("aster_signer_key", "not an EVM private key (32 bytes of hex)") from None
    if "aster_signer" in found and found["aster_signer"].lower() != signer.lower():
        raise refuse("aster_signer", "is not the address of aster_signer_key")


def credential_names(
    cfg: Config, venue: str, environ: Mapping[str, str] = os.environ
) -> tuple[str, str]:
    """Where `venue`'s credentials come from and their names as the operator spells them,
    e.g. ("<environment>", "HEDGED_BACKPACK_API_KEY, HEDGED_BACKPACK_API_SECRET")."""
    source = cfg.credentials.source
    where = {
        "env": ENVIRONMENT,
        "file": str(cfg.credentials.file),
        "systemd": environ.get("CREDENTIALS_DIRECTORY", "$CREDENTIALS_DIRECTORY"),
    }[source]
    names = _REQUIRED[cfg.aster.auth] if venue == "aster" else _BACKPACK_REQUIRED
    return where, ", ".join(map(_LABELS[source], names))


def load_credentials(cfg: Config, environ: Mapping[str, str] = os.environ) -> Credentials:
    """The venue credentials named by cfg.credentials; raises ConfigError (exit EX_CONFIG)."""
    source = cfg.credentials.source
    where, found = _SOURCES[source](cfg, environ)
    found = {name: value for name, value in found.items() if value}  # empty means missing
    required = (*_REQUIRED[cfg.aster.auth], *_BACKPACK_REQUIRED)
    missing = [name for name in required if name not in found]
    if missing:
        label = _LABELS[source]
        why = (
            f" (needed for aster.auth = {cfg.aster.auth!r})"
            if missing[0].startswith("aster")
            else ""
        )
        also = f"; also missing: {', '.join(map(label, missing[1:]))}" if missing[1:] else ""
        raise ConfigError(where, label(missing[0]), f"missing credential{why}{also}")

    _check_values(found, where, _LABELS[source], cfg.aster.auth)

    def secret(name: str) -> Secret | None:
        return Secret(found[name]) if name in found else None

    return Credentials(
        aster=AsterCredentials(
            user=found.get("aster_user"),
            signer=found.get("aster_signer"),
            signer_key=secret("aster_signer_key"),
            api_key=secret("aster_api_key"),
            api_secret=secret("aster_api_secret"),
        ),
        backpack=BackpackCredentials(
            api_key=Secret(found["backpack_api_key"]),
            api_secret=Secret(found["backpack_api_secret"]),
        ),
    )
