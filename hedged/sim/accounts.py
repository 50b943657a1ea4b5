"""The simulator's accounts: who may sign for which account on each venue, and each account's
starting balance, read from the accounts file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path


@dataclass(frozen=True)
class AsterV1Key:
    api_key: str
    secret: str
    account: str


@dataclass(frozen=True)
class AsterAgent:
    user: str  # main wallet address
    signer: str  # approved agent (API wallet) address
    account: str


@dataclass(frozen=True)
class BackpackKey:
    public_key: str  # base64 ED25519 verifying key
    account: str


@dataclass
class Accounts:
    aster_v1: dict[str, AsterV1Key] = field(default_factory=dict)  # by api key
    aster_agents: dict[str, AsterAgent] = field(default_factory=dict)  # by signer, lowercase
    backpack: dict[str, BackpackKey] = field(default_factory=dict)  # by public key
    balances: dict[str, Decimal] = field(default_factory=dict)  # account -> starting balance


class AccountsError(ValueError):
    pass


def load_accounts(path: Path) -> Accounts:
    """The simulator's accounts file (TOML):

    [[account]]
    name = "alice"
    balance = "10000"
    aster_api_key = "..."          # V1: key and secret (optional)
    aster_api_secret = "..."
    aster_user = "0x..."           # V3: main wallet and agent address (optional)
    aster_signer = "0x..."
    backpack_public_key = "..."    # base64 ED25519 public key (optional)
    """
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise AccountsError(f"{path}: {e}") from None
    accounts = Accounts()
    for i, a in enumerate(data.get("account", [])):
        name = a.get("name")
        if not isinstance(name, str) or not name:
            raise AccountsError(f"{path}: account[{i}].name: missing")
        accounts.balances[name] = Decimal(str(a.get("balance", "10000")))
        if "aster_api_key" in a:
            accounts.aster_v1[a["aster_api_key"]] = AsterV1Key(
                a["aster_api_key"], a["aster_api_secret"], name
            )
        if "aster_signer" in a:
            accounts.aster_agents[a["aster_signer"].lower()] = AsterAgent(
                a["aster_user"], a["aster_signer"], name
            )
        if "backpack_public_key" in a:
            accounts.backpack[a["backpack_public_key"]] = BackpackKey(
                a["backpack_public_key"], name
            )
    return accounts
