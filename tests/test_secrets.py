"""hedged.secrets: the three credential sources, file permissions, and that values never leak."""

from __future__ import annotations

import logging
import os
import traceback
from pathlib import Path

import pytest

from hedged.config import Config, ConfigError, load
from hedged.secrets import (
    AsterCredentials,
    BackpackCredentials,
    Credentials,
    Secret,
    load_credentials,
)

# Distinctive values of the right shape, so a leak anywhere is easy to spot.
V3 = {
    "aster_user": "0x" + "ab" * 20,
    "aster_signer": "0x23d8CeCeADa1F1b0b094a036081364FE44771Ccf",  # address of the key below
    "aster_signer_key": "0x" + "5ec3e7" * 10 + "aaaa",
}
V1 = {"aster_api_key": "asterkey-s3cr3t-1111", "aster_api_secret": "astersecret-s3cr3t-2222"}
BACKPACK = {  # the secret is base64 of "bpsecret-s3cr3t-4444-0123456789a", the key its public key
    "backpack_api_key": "k3rg2LC9WpUfh0JbRhJ9e7ObaNv2ThJWbPpDwoE7xYs=",
    "backpack_api_secret": "YnBzZWNyZXQtczNjcjN0LTQ0NDQtMDEyMzQ1Njc4OWE=",
}
SECRET_VALUES = [
    V3["aster_signer_key"],
    *V1.values(),
    *BACKPACK.values(),
]


def cfg(source: str = "env", auth: str = "v3", file: Path | None = None) -> Config:
    return load(
        overrides={"credentials.source": source, "aster.auth": auth, "credentials.file": file}
    )


def env(values: dict[str, str]) -> dict[str, str]:
    return {f"HEDGED_{name.upper()}": value for name, value in values.items()}


def secrets_file(tmp_path: Path, values: dict[str, str], mode: int = 0o600) -> Path:
    lines: dict[str, list[str]] = {"aster": [], "backpack": []}
    for name, value in values.items():
        section, key = name.split("_", 1)
        lines[section].append(f'{key} = "{value}"')
    path = tmp_path / "credentials.toml"
    path.write_text("".join(f"[{s}]\n" + "\n".join(ls) + "\n" for s, ls in lines.items()))
    path.chmod(mode)
    return path


def systemd_dir(tmp_path: Path, values: dict[str, str]) -> dict[str, str]:
    directory = tmp_path / "creds"
    directory.mkdir()
    for name, value in values.items():
        (directory / name).write_text(value + "\n")
    return {"CREDENTIALS_DIRECTORY": str(directory)}


def assert_no_leak(text: str) -> None:
    for value in SECRET_VALUES:
        assert value not in text


def check_v3(creds: Credentials) -> None:
    assert creds.aster.user == V3["aster_user"]
    assert creds.aster.signer == V3["aster_signer"]
    assert creds.aster.signer_key is not None
    assert creds.aster.signer_key.reveal() == V3["aster_signer_key"]
    assert creds.backpack.api_key.reveal() == BACKPACK["backpack_api_key"]
    assert creds.backpack.api_secret.reveal() == BACKPACK["backpack_api_secret"]


# --- sources -------------------------------------------------------------------------------


def test_env_v3() -> None:
    creds = load_credentials(cfg(), env({**V3, **BACKPACK}))
    check_v3(creds)
    assert creds.aster.api_key is None and creds.aster.api_secret is None


def test_env_v1() -> None:
    creds = load_credentials(cfg(auth="v1"), env({**V1, **BACKPACK}))
    assert creds.aster.api_key == Secret(V1["aster_api_key"])
    assert creds.aster.api_secret == Secret(V1["aster_api_secret"])
    assert creds.aster.user is None and creds.aster.signer_key is None


def test_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for var, value in env({**V3, **BACKPACK}).items():
        monkeypatch.setenv(var, value)
    check_v3(load_credentials(cfg()))


def test_file_0600_accepted(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, {**V3, **BACKPACK})
    check_v3(load_credentials(cfg("file", file=path), {}))


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o700 | 0o004])
def test_file_open_to_group_or_others_refused(tmp_path: Path, mode: int) -> None:
    path = secrets_file(tmp_path, {**V3, **BACKPACK}, mode)
    with pytest.raises(ConfigError) as err:
        load_credentials(cfg("file", file=path), {})
    assert (err.value.file, err.value.key) == (str(path), "credentials.file")
    assert err.value.problem == (f"is readable by group or others (mode {mode:04o}); chmod 600 it")
    assert_no_leak(str(err.value))


def test_file_owned_by_someone_else_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root can give a file away")
    path = secrets_file(tmp_path, {**V3, **BACKPACK})
    os.chown(path, 65534, -1)
    with pytest.raises(ConfigError) as err:
        load_credentials(cfg("file", file=path), {})
    assert err.value.key == "credentials.file"
    assert "owned by uid 65534" in err.value.problem


def test_file_missing(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as err:
        load_credentials(cfg("file", file=path), {})
    assert (err.value.file, err.value.key) == (str(path), "credentials.file")
    assert "No such file" in err.value.problem


@pytest.mark.parametrize(
    ("text", "key"),
    [
        pytest.param('[aster]\napi_secert = "x"\n', "aster.api_secert", id="unknown-key"),
        pytest.param('[binance]\napi_key = "x"\n', "binance", id="unknown-section"),
        pytest.param("[backpack]\napi_key = 5\n", "backpack.api_key", id="not-a-string"),
        pytest.param('[aster]\nsigner_key = "0xsignerkey-s3cr3t-\x01"\n', "<toml>", id="malformed"),
    ],
)
def test_file_content_errors_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "credentials.toml"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(ConfigError) as err:
        load_credentials(cfg("file", file=path), {})
    assert (err.value.file, err.value.key) == (str(path), key)
    assert "s3cr3t" not in str(err.value)


def test_systemd_strips_one_trailing_newline(tmp_path: Path) -> None:
    creds = load_credentials(cfg("systemd"), systemd_dir(tmp_path, {**V3, **BACKPACK}))
    assert creds.aster.signer_key == Secret(V3["aster_signer_key"])
    assert creds.backpack.api_secret.reveal() == BACKPACK["backpack_api_secret"]
    (tmp_path / "second").mkdir()
    environ = systemd_dir(
        tmp_path / "second", {**V3, **BACKPACK, "aster_user": V3["aster_user"] + "\n"}
    )
    with pytest.raises(ConfigError) as err:  # only one newline is stripped
        load_credentials(cfg("systemd"), environ)
    assert err.value.key == "aster_user"


@pytest.mark.parametrize("name", [*V3, *BACKPACK])
@pytest.mark.parametrize("control", ["\n", "\r", "\x00", "\x7f"])
def test_a_control_character_is_refused_naming_the_credential(name: str, control: str) -> None:
    values = {**V3, **BACKPACK}
    values[name] = values[name][:10] + control + values[name][10:]
    with pytest.raises(ConfigError) as err:
        load_credentials(cfg(), env(values))
    assert (err.value.file, err.value.key) == ("<environment>", f"HEDGED_{name.upper()}")
    assert "control character" in err.value.problem
    assert_no_leak(str(err.value))
    assert values[name][:10] not in str(err.value)


@pytest.mark.parametrize(
    ("change", "blamed", "problem"),
    [
        ({"backpack_api_secret": "not base64!"}, "backpack_api_secret", "not a base64 ED25519"),
        ({"backpack_api_secret": "c2hvcnQ="}, "backpack_api_secret", "not a base64 ED25519"),
        (
            {"backpack_api_key": "AAAA" + BACKPACK["backpack_api_key"][4:]},
            "backpack_api_key",
            "not the public key",
        ),
        ({"aster_signer_key": "0xnothex"}, "aster_signer_key", "not an EVM private key"),
        ({"aster_signer": "0x" + "cd" * 20}, "aster_signer", "not the address"),
        ({"aster_user": "alice"}, "aster_user", "not an address"),
    ],
)
def test_a_malformed_key_is_refused_before_any_venue_call(
    change: dict[str, str], blamed: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_credentials(cfg(), env({**V3, **BACKPACK, **change}))
    assert err.value.key == f"HEDGED_{blamed.upper()}"
    assert problem in err.value.problem
    assert_no_leak(str(err.value))
    for value in change.values():
        assert value not in str(err.value)


def test_systemd_needs_credentials_directory() -> None:
    with pytest.raises(ConfigError) as err:
        load_credentials(cfg("systemd"), {})
    assert err.value.key == "CREDENTIALS_DIRECTORY"


# --- missing credentials -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "auth", "drop", "key"),
    [
        pytest.param("env", "v3", "aster_signer_key", "HEDGED_ASTER_SIGNER_KEY", id="env-v3"),
        pytest.param("env", "v1", "aster_api_secret", "HEDGED_ASTER_API_SECRET", id="env-v1"),
        pytest.param("env", "v3", "backpack_api_key", "HEDGED_BACKPACK_API_KEY", id="env-backpack"),
        pytest.param("file", "v3", "aster_user", "aster.user", id="file-v3"),
        pytest.param("file", "v1", "aster_api_key", "aster.api_key", id="file-v1"),
        pytest.param("systemd", "v3", "aster_signer", "aster_signer", id="systemd-v3"),
        pytest.param(
            "systemd", "v3", "backpack_api_secret", "backpack_api_secret", id="systemd-backpack"
        ),
    ],
)
def test_missing_credential_is_named(
    tmp_path: Path, source: str, auth: str, drop: str, key: str
) -> None:
    values = {**(V3 if auth == "v3" else V1), **BACKPACK}
    del values[drop]
    if source == "env":
        config, environ = cfg(auth=auth), env(values)
    elif source == "file":
        config, environ = cfg("file", auth, secrets_file(tmp_path, values)), {}
    else:
        config, environ = cfg("systemd", auth), systemd_dir(tmp_path, values)
    with pytest.raises(ConfigError) as err:
        load_credentials(config, environ)
    assert err.value.key == key
    assert err.value.problem.startswith("missing credential")
    assert_no_leak(str(err.value))


def test_all_missing_credentials_are_listed() -> None:
    with pytest.raises(ConfigError) as err:
        load_credentials(cfg(), {"HEDGED_ASTER_USER": ""})  # empty counts as missing
    assert err.value.key == "HEDGED_ASTER_USER"
    assert "HEDGED_BACKPACK_API_SECRET" in err.value.problem


def test_v1_keys_are_not_needed_for_v3_and_vice_versa() -> None:
    load_credentials(cfg(auth="v3"), env({**V3, **BACKPACK}))
    with pytest.raises(ConfigError):
        load_credentials(cfg(auth="v1"), env({**V3, **BACKPACK}))


# --- nothing leaks -------------------------------------------------------------------------


def test_secret_wrapper() -> None:
    s = Secret("hunter2-s3cr3t")
    assert repr(s) == str(s) == f"{s}" == "%s" % s == "Secret(***)"  # noqa: UP031
    assert s.reveal() == "hunter2-s3cr3t"
    assert s == Secret("hunter2-s3cr3t") and s != Secret("other") and s != "hunter2-s3cr3t"
    with pytest.raises(TypeError):
        hash(s)
    assert not hasattr(s, "__dict__")


def test_reprs_never_show_secret_values(caplog: pytest.LogCaptureFixture) -> None:
    creds = load_credentials(cfg(), env({**V3, **V1, **BACKPACK}))
    objects: list[object] = [creds, creds.aster, creds.backpack, *vars_of(creds)]
    logging.getLogger("test").warning("credentials: %s %r", creds, creds)
    for text in [*map(repr, objects), *map(str, objects), caplog.text]:
        assert_no_leak(text)
    assert "Secret(***)" in repr(creds)


def vars_of(creds: Credentials) -> list[object]:
    a, b = creds.aster, creds.backpack
    return [a.signer_key, a.api_key, a.api_secret, b.api_key, b.api_secret]


def test_errors_and_tracebacks_never_show_secret_values(tmp_path: Path) -> None:
    # a faulty file full of real-looking secrets: every error path must stay clean
    path = secrets_file(tmp_path, {**V3, **V1, **BACKPACK}, 0o644)
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text('[aster]\napi_key = "asterkey-s3cr3t-1111\n')
    bad_toml.chmod(0o600)
    for config in (cfg("file", file=path), cfg("file", file=bad_toml)):
        with pytest.raises(ConfigError) as err:
            load_credentials(config, {})
        text = "".join(traceback.format_exception(err.value))
        assert_no_leak(text)
        assert "s3cr3t" not in text


def test_dataclasses_are_frozen() -> None:
    creds = Credentials(
        AsterCredentials(None, None, None, Secret("a"), Secret("b")),
        BackpackCredentials(Secret("c"), Secret("d")),
    )
    with pytest.raises(AttributeError):
        creds.backpack.api_key = Secret("e")  # type: ignore[misc]
