"""hedged.config: defaults, the example file, overrides, and every kind of bad configuration."""

from __future__ import annotations

import dataclasses
import pickle
import re
from decimal import Decimal
from pathlib import Path

import pytest

from hedged import config
from hedged.config import ConfigError, load

EXAMPLE = Path(__file__).resolve().parent.parent / "etc" / "hedged.toml"

# The smallest valid file: the three required keys.
REQUIRED = {
    "strategy.position_size_usdt": "25",
    "pair.aster_symbol": '"SOLUSDT"',
    "pair.backpack_symbol": '"SOL_USDC_PERP"',
}


def toml(values: dict[str, str | None]) -> str:
    """A TOML document from dotted keys -> TOML literals (None drops a required key)."""
    sections: dict[str, list[str]] = {}
    for dotted, literal in {**REQUIRED, **values}.items():
        if literal is not None:
            section, key = dotted.split(".")
            sections.setdefault(section, []).append(f"{key} = {literal}")
    return "".join(f"[{s}]\n" + "\n".join(lines) + "\n" for s, lines in sections.items())


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hedged.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _state_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))


# --- good configurations -------------------------------------------------------------------


def test_defaults_need_no_file(tmp_path: Path) -> None:
    cfg = config.defaults()
    assert cfg == load(None)
    assert cfg.source == "<defaults>"
    assert cfg.strategy == config.StrategyConfig()
    assert cfg.strategy.stop_loss == Decimal("0.008")
    assert cfg.strategy.take_profit == Decimal("0.012")
    assert cfg.aster.leverage == 1
    assert cfg.pair.base_asset == "SOL"
    assert cfg.daemon.state_dir == tmp_path / "xdg" / "hedged"
    assert cfg.store.url == f"sqlite:///{tmp_path}/xdg/hedged/hedged.db"


def test_no_floats_anywhere() -> None:
    cfg = config.defaults()
    for section in dataclasses.fields(cfg):
        value = getattr(cfg, section.name)
        if dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                assert not isinstance(getattr(value, f.name), float), f"{section.name}.{f.name}"


def test_state_dir_follows_systemd_then_xdg_then_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/hedged:/var/lib/other")
    assert config.defaults().daemon.state_dir == Path("/var/lib/hedged")
    assert config.defaults().store.url == "sqlite:////var/lib/hedged/hedged.db"
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.setenv("XDG_STATE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config.defaults().daemon.state_dir == tmp_path / ".local" / "state" / "hedged"


def test_example_file_loads_and_states_the_defaults() -> None:
    cfg = load(EXAMPLE)
    assert cfg.source == str(EXAMPLE)
    assert dataclasses.replace(cfg, source="<defaults>") == config.defaults()


def test_example_file_documents_every_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for section, (_cls, rules) in config._SCHEMA.items():
        assert f"[{section}]" in text
        for key in rules:
            # each key, set or commented out, right after its one-line comment
            assert re.search(rf"^# .+\n(# )?{key} = ", text, re.M), f"{section}.{key}"


def test_schema_covers_every_field() -> None:
    sections = [f.name for f in dataclasses.fields(config.Config)][:-1]
    assert list(config._SCHEMA) == [s.removesuffix("s") if s == "pairs" else s for s in sections]
    for section, (cls, rules) in config._SCHEMA.items():
        fields = [f.name for f in dataclasses.fields(cls)]
        if section == "pair":  # its symbols, then what it may set of its strategy
            fields = [*fields[:-1], *config.PAIR_STRATEGY_KEYS]
        assert list(rules) == fields


def test_minimal_file_and_string_decimals(tmp_path: Path) -> None:
    path = write(tmp_path, toml({"strategy.stop_loss": '"0.01"', "strategy.take_profit": "0.02"}))
    cfg = load(path)
    assert cfg.strategy.stop_loss == Decimal("0.01")
    assert isinstance(cfg.strategy.position_size_usdt, Decimal)
    assert cfg.strategy.max_round_seconds == 3600


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    text = toml({"daemon.state_dir": '"state"', "paper.price_csv": '"/abs/prices.csv"'})
    cfg = load(write(tmp_path, text))
    assert cfg.daemon.state_dir == tmp_path / "state"
    assert cfg.paper.price_csv == Path("/abs/prices.csv")
    assert cfg.store.url == f"sqlite:///{tmp_path}/state/hedged.db"


def test_overrides_apply_after_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, toml({"strategy.mode": '"continuous"'}))
    cfg = load(
        path,
        overrides={
            "strategy.mode": "single",
            "store.url": "postgresql+psycopg://hedged:pw@127.0.0.1:5432/hedged",
            "strategy.stop_loss": Decimal("0.005"),
            "strategy.position_size_usdt": "30",
            "aster.leverage": None,  # None means "not given"
        },
    )
    assert cfg.strategy.mode == "single"
    assert cfg.strategy.stop_loss == Decimal("0.005")
    assert cfg.strategy.position_size_usdt == Decimal("30")
    assert cfg.aster.leverage == 1
    assert cfg.store.url.startswith("postgresql+psycopg://")
    assert "pw" not in repr(cfg.store)
    assert cfg.source == str(path)


def test_overrides_without_a_file() -> None:
    cfg = load(overrides={"pair.aster_symbol": "BTCUSDT", "pair.backpack_symbol": "BTC_USDC_PERP"})
    assert cfg.pair.base_asset == "BTC"
    assert cfg.source == "<defaults>"


def test_overrides_can_supply_required_keys(tmp_path: Path) -> None:
    path = write(tmp_path, toml({"strategy.position_size_usdt": None}))
    assert (
        load(path, overrides={"strategy.position_size_usdt": 40}).strategy.position_size_usdt == 40
    )


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        pytest.param({"strategy.stop_los": "0.1"}, "strategy.stop_los", id="unknown-key"),
        pytest.param({"strat.mode": "single"}, "strat", id="unknown-section"),
        pytest.param({"strategy": "single"}, "strategy", id="undotted"),
        pytest.param({"strategy.mode": "twice"}, "strategy.mode", id="bad-value"),
        pytest.param({"strategy.stop_loss": 0.01}, "strategy.stop_loss", id="float"),
        pytest.param({"strategy.take_profit": "0.001"}, "strategy.take_profit", id="cross-check"),
    ],
)
def test_bad_overrides_name_the_overrides(overrides: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(overrides=overrides)
    assert (err.value.file, err.value.key) == ("<overrides>", key)


# --- bad configurations --------------------------------------------------------------------

BAD: list[object] = [
    # required keys
    pytest.param(
        {"strategy.position_size_usdt": None}, "strategy.position_size_usdt", id="missing-size"
    ),
    pytest.param({"pair.aster_symbol": None}, "pair.aster_symbol", id="missing-aster-symbol"),
    pytest.param(
        {"pair.backpack_symbol": None}, "pair.backpack_symbol", id="missing-backpack-symbol"
    ),
    # unknown names
    pytest.param({"strategy.stop_los": "0.01"}, "strategy.stop_los", id="unknown-key"),
    pytest.param({"pair.symbol": '"SOLUSDT"'}, "pair.symbol", id="unknown-pair-key"),
    pytest.param({"strategi.mode": '"single"'}, "strategi", id="unknown-section"),
    pytest.param("mode = 1\n" + toml({}), "mode", id="unknown-top-level-key"),
    pytest.param("strategy = 1\n", "strategy", id="section-not-a-table"),
    # wrong types
    pytest.param({"strategy.max_rounds": '"3"'}, "strategy.max_rounds", id="string-for-int"),
    pytest.param({"aster.leverage": "true"}, "aster.leverage", id="bool-for-int"),
    pytest.param(
        {"strategy.cooldown_seconds": "30.0"}, "strategy.cooldown_seconds", id="float-for-int"
    ),
    pytest.param(
        {"strategy.stop_loss": "{ value = 0.01 }"}, "strategy.stop_loss", id="table-for-decimal"
    ),
    pytest.param({"pair.aster_symbol": '["SOLUSDT"]'}, "pair.aster_symbol", id="array-for-string"),
    pytest.param(
        {"aster.recv_window_ms": "{ ms = 5 }"}, "aster.recv_window_ms", id="table-for-int"
    ),
    pytest.param(
        {"strategy.position_size_usdt": "true"},
        "strategy.position_size_usdt",
        id="bool-for-decimal",
    ),
    pytest.param(
        {"strategy.position_size_usdt": '"lots"'},
        "strategy.position_size_usdt",
        id="word-for-decimal",
    ),
    pytest.param({"strategy.mode": "1"}, "strategy.mode", id="int-for-choice"),
    pytest.param({"daemon.state_dir": "5"}, "daemon.state_dir", id="int-for-path"),
    pytest.param({"paper.price_csv": '""'}, "paper.price_csv", id="empty-path"),
    pytest.param({"paper.seed": "1979-05-27"}, "paper.seed", id="date-for-int"),
    # non-finite decimals
    pytest.param({"strategy.stop_loss": "nan"}, "strategy.stop_loss", id="nan"),
    pytest.param({"strategy.position_size_usdt": "inf"}, "strategy.position_size_usdt", id="inf"),
    pytest.param({"paper.volatility": '"Infinity"'}, "paper.volatility", id="string-infinity"),
    pytest.param({"paper.start_price": '"NaN"'}, "paper.start_price", id="string-nan"),
    # ranges
    pytest.param(
        {"strategy.position_size_usdt": "0"}, "strategy.position_size_usdt", id="size-zero"
    ),
    pytest.param(
        {"strategy.position_size_usdt": "-5"}, "strategy.position_size_usdt", id="size-negative"
    ),
    pytest.param({"strategy.stop_loss": "0"}, "strategy.stop_loss", id="stop-zero"),
    pytest.param({"strategy.stop_loss": "-0.01"}, "strategy.stop_loss", id="stop-negative"),
    pytest.param(
        {"strategy.stop_loss": "0.5", "strategy.take_profit": "0.6"},
        "strategy.stop_loss",
        id="stop-half",
    ),
    pytest.param({"strategy.take_profit": "0.008"}, "strategy.take_profit", id="tp-equals-stop"),
    pytest.param({"strategy.take_profit": "0.005"}, "strategy.take_profit", id="tp-below-stop"),
    pytest.param({"strategy.take_profit": "1"}, "strategy.take_profit", id="tp-one"),
    pytest.param({"aster.leverage": "0"}, "aster.leverage", id="leverage-0"),
    pytest.param({"aster.leverage": "200"}, "aster.leverage", id="leverage-200"),
    pytest.param({"aster.recv_window_ms": "60001"}, "aster.recv_window_ms", id="recv-window-60001"),
    pytest.param({"backpack.window_ms": "0"}, "backpack.window_ms", id="window-0"),
    pytest.param({"aster.taker_fee": "0.01"}, "aster.taker_fee", id="fee-too-high"),
    pytest.param({"backpack.maker_fee": "-0.0001"}, "backpack.maker_fee", id="fee-negative"),
    pytest.param(
        {"strategy.max_concurrent_rounds": "0"}, "strategy.max_concurrent_rounds", id="concurrent-0"
    ),
    pytest.param(
        {"strategy.max_concurrent_rounds": "10001"},
        "strategy.max_concurrent_rounds",
        id="concurrent-10001",
    ),
    pytest.param(
        {"strategy.cooldown_seconds": "-1"}, "strategy.cooldown_seconds", id="cooldown-negative"
    ),
    pytest.param(
        {"strategy.max_round_seconds": "0"}, "strategy.max_round_seconds", id="round-seconds-0"
    ),
    pytest.param({"strategy.max_rounds": "-1"}, "strategy.max_rounds", id="max-rounds-negative"),
    pytest.param(
        {"strategy.max_concurrent_rounds": "2"},
        "strategy.backstop_stop",
        id="backstops-with-concurrent-rounds",
    ),
    pytest.param(
        {"strategy.daily_loss_limit_usdt": "0"}, "strategy.daily_loss_limit_usdt", id="loss-limit-0"
    ),
    pytest.param(
        {"strategy.max_price_age_seconds": "0"}, "strategy.max_price_age_seconds", id="price-age-0"
    ),
    pytest.param(
        {"strategy.poll_interval_seconds": "-5"},
        "strategy.poll_interval_seconds",
        id="poll-negative",
    ),
    pytest.param({"paper.basis_bps": "501"}, "paper.basis_bps", id="basis-501"),
    pytest.param({"paper.spread_bps": "-1"}, "paper.spread_bps", id="spread-negative"),
    pytest.param({"paper.tick_seconds": "0"}, "paper.tick_seconds", id="tick-0"),
    # choices
    pytest.param({"strategy.mode": '"forever"'}, "strategy.mode", id="bad-mode"),
    pytest.param({"strategy.on_shutdown": '"panic"'}, "strategy.on_shutdown", id="bad-on-shutdown"),
    pytest.param({"strategy.direction": '"long_aster"'}, "strategy.direction", id="bad-direction"),
    pytest.param(
        {"strategy.avoid_funding_seconds": "3600"},
        "strategy.avoid_funding_seconds",
        id="avoid-funding-an-hour",
    ),
    pytest.param(
        {"strategy.avoid_funding_seconds": "-1"},
        "strategy.avoid_funding_seconds",
        id="avoid-funding-negative",
    ),
    pytest.param({"aster.auth": '"v2"'}, "aster.auth", id="bad-auth"),
    pytest.param({"daemon.log_level": '"VERBOSE"'}, "daemon.log_level", id="bad-log-level"),
    pytest.param({"daemon.log_format": '"xml"'}, "daemon.log_format", id="bad-log-format"),
    pytest.param(
        {"credentials.source": '"vault"'}, "credentials.source", id="bad-credential-source"
    ),
    # symbols
    pytest.param({"pair.aster_symbol": '"SOL-USDT"'}, "pair.aster_symbol", id="aster-dash"),
    pytest.param({"pair.aster_symbol": '"SOLUSDC"'}, "pair.aster_symbol", id="aster-usdc"),
    pytest.param({"pair.aster_symbol": '"solusdt"'}, "pair.aster_symbol", id="aster-lowercase"),
    pytest.param({"pair.aster_symbol": '"SOLUSDT\\n"'}, "pair.aster_symbol", id="aster-newline"),
    pytest.param(
        {"pair.backpack_symbol": '"SOL_USDC"'}, "pair.backpack_symbol", id="backpack-spot"
    ),
    pytest.param(
        {"pair.backpack_symbol": '"BTC_USDC_PERP"'}, "pair.backpack_symbol", id="mismatched-base"
    ),
    # URLs
    pytest.param({"store.url": '"not a url"'}, "store.url", id="store-url-garbage"),
    pytest.param({"store.url": '"mysql://db/hedged"'}, "store.url", id="store-url-mysql"),
    pytest.param({"store.url": '"postgresql+nodriver://db/h"'}, "store.url", id="store-url-driver"),
    pytest.param(
        {"aster.base_url": '"ftp://fapi.asterdex.com"'}, "aster.base_url", id="base-url-ftp"
    ),
    pytest.param(
        {"backpack.ws_url": '"https://ws.backpack.exchange"'}, "backpack.ws_url", id="ws-url-http"
    ),
    # credentials.file
    pytest.param(
        {"credentials.source": '"file"'}, "credentials.file", id="credentials-file-required"
    ),
    pytest.param(
        {"credentials.file": '"/etc/hedged/creds.toml"'},
        "credentials.file",
        id="credentials-file-forbidden",
    ),
    # syntax
    pytest.param("[strategy]\nposition_size_usdt = \n", "<toml>", id="malformed-toml"),
    pytest.param("[strategy\n", "<toml>", id="unclosed-table"),
    pytest.param(toml({}) + "[pair]\n", "<toml>", id="duplicate-table"),
]


@pytest.mark.parametrize(("change", "key"), BAD)
def test_bad_config_names_file_and_key(
    tmp_path: Path, change: dict[str, str | None] | str, key: str
) -> None:
    path = write(tmp_path, change if isinstance(change, str) else toml(change))
    with pytest.raises(ConfigError) as err:
        load(path)
    assert err.value.file == str(path)
    assert err.value.key == key
    assert str(err.value) == f"{path}: {key}: {err.value.problem}"
    assert err.value.problem


def test_error_messages_are_specific(tmp_path: Path) -> None:
    cases = {
        "strategy.stop_los = 0.01": "unknown key (did you mean 'stop_loss'?)",
        "aster.leverage = true": "expected an integer, got boolean",
        "strategy.cooldown_seconds = 30.0": "expected an integer, got float",
        "strategy.stop_loss = { v = 1 }": "expected a decimal number, got table",
    }
    for line, problem in cases.items():
        dotted, literal = line.split(" = ", 1)
        with pytest.raises(ConfigError) as err:
            load(write(tmp_path, toml({dotted: literal})))
        assert err.value.problem == problem


def test_malformed_toml_reports_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "[strategy]\nposition_size_usdt = = 3\n")
    with pytest.raises(ConfigError) as err:
        load(path)
    assert "line 2" in err.value.problem


def test_store_url_error_never_echoes_a_password(tmp_path: Path) -> None:
    path = write(tmp_path, toml({"store.url": '"mysql://u:hunter2@db/hedged"'}))
    with pytest.raises(ConfigError) as err:
        load(path)
    assert "hunter2" not in str(err.value)


def test_missing_file() -> None:
    path = Path("/nonexistent/hedged.toml")
    with pytest.raises(ConfigError) as err:
        load(path)
    assert (err.value.file, err.value.key) == (str(path), "<file>")
    assert "No such file" in err.value.problem


def test_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, toml({}))
    path.chmod(0o000)
    try:
        try:
            path.open().close()
            pytest.skip("running as root: a mode 000 file is still readable")
        except PermissionError:
            pass
        with pytest.raises(ConfigError) as err:
            load(path)
    finally:
        path.chmod(0o600)
    assert (err.value.file, err.value.key) == (str(path), "<file>")
    assert "Permission denied" in err.value.problem


def test_config_error_keeps_its_parts_and_pickles() -> None:
    e = ConfigError("/etc/hedged.toml", "strategy.take_profit", "must be > 0")
    assert str(e) == "/etc/hedged.toml: strategy.take_profit: must be > 0"
    back = pickle.loads(pickle.dumps(e))
    assert (back.file, back.key, back.problem) == (e.file, e.key, e.problem)
    assert config.EX_CONFIG == 78


def test_config_is_frozen() -> None:
    cfg = config.defaults()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.strategy.stop_loss = Decimal("0.1")  # type: ignore[misc]


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path)
    assert (err.value.file, err.value.key) == (str(tmp_path), "<file>")
    assert "directory" in err.value.problem


# --- many pairs ------------------------------------------------------------------------------

PAIRS = """
[strategy]
position_size_usdt = 25
stop_loss = 0.008
take_profit = 0.012

[[pair]]
aster_symbol = "SOLUSDT"
backpack_symbol = "SOL_USDC_PERP"

[[pair]]
aster_symbol = "ETHUSDT"
backpack_symbol = "ETH_USDC_PERP"
position_size_usdt = 40
stop_loss = 0.01
take_profit = 0.02
max_concurrent_rounds = 2
backstop_stop = 0
daily_loss_limit_usdt = 5
"""


def test_pair_tables_each_with_their_own_strategy(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, PAIRS))
    sol, eth = cfg.pairs
    assert (sol.aster_symbol, sol.backpack_symbol) == ("SOLUSDT", "SOL_USDC_PERP")
    assert sol.strategy == cfg.strategy  # nothing of its own: the daemon's strategy
    assert (eth.aster_symbol, eth.backpack_symbol) == ("ETHUSDT", "ETH_USDC_PERP")
    assert eth.strategy.position_size_usdt == Decimal(40)
    assert (eth.strategy.stop_loss, eth.strategy.take_profit) == (Decimal("0.01"), Decimal("0.02"))
    assert eth.strategy.max_concurrent_rounds == 2 and eth.strategy.backstop_stop == 0
    assert eth.strategy.daily_loss_limit_usdt == Decimal(5)
    assert eth.strategy.cooldown_seconds == cfg.strategy.cooldown_seconds  # not overridden
    assert cfg.pair == sol  # the first pair


def test_a_single_pair_table_is_one_pair(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, toml({})))
    assert len(cfg.pairs) == 1 and cfg.pair.aster_symbol == "SOLUSDT"
    assert cfg.pair.strategy == cfg.strategy
    assert len(config.defaults().pairs) == 1


BTC = '[[pair]]\naster_symbol = "BTCUSDT"\nbackpack_symbol = "BTC_USDC_PERP"\n'


@pytest.mark.parametrize(
    ("extra", "key", "problem"),
    [
        pytest.param("stop_loss = 0.9\n", "pair[ETHUSDT].stop_loss", "must be", id="range"),
        pytest.param("sizes = 1\n", "pair[ETHUSDT].sizes", "unknown key", id="unknown"),
        pytest.param(
            "mode = 'single'\n", "pair[ETHUSDT].mode", "applies to every pair", id="daemon-wide"
        ),
        pytest.param(
            "stop_loss = 0.015\n",
            "pair[ETHUSDT].take_profit",
            "greater than stop_loss (0.015)",
            id="own-strategy-checked-whole",
        ),
        pytest.param(
            "max_concurrent_rounds = 2\n",
            "pair[ETHUSDT].backstop_stop",
            "needs max_concurrent_rounds = 1",
            id="backstops-need-one-round",
        ),
        pytest.param(
            "backpack_symbol = 'BTC_USDC_PERP'\n",
            "pair[ETHUSDT].backpack_symbol",
            "base asset",
            id="base-asset",
        ),
    ],
)
def test_a_bad_pair_table_is_named(tmp_path: Path, extra: str, key: str, problem: str) -> None:
    text = PAIRS.split("[[pair]]")[0] + '[[pair]]\naster_symbol = "ETHUSDT"\n'
    if "backpack_symbol" not in extra:
        text += 'backpack_symbol = "ETH_USDC_PERP"\n'
    with pytest.raises(ConfigError) as e:
        load(write(tmp_path, text + extra + BTC))
    assert e.value.key == key and problem in e.value.problem


def test_two_pairs_on_one_symbol_are_refused(tmp_path: Path) -> None:
    text = PAIRS + '\n[[pair]]\naster_symbol = "BTCUSDT"\nbackpack_symbol = "SOL_USDC_PERP"\n'
    with pytest.raises(ConfigError) as e:
        load(write(tmp_path, text.replace("BTCUSDT", "SOLUSDT")))
    assert e.value.key == "pair[SOLUSDT].aster_symbol"
    assert "already traded by pair[SOLUSDT]" in e.value.problem


def test_a_pair_table_without_its_symbols_is_named_by_place(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load(write(tmp_path, PAIRS + "\n[[pair]]\nstop_loss = 0.01\n"))
    assert e.value.key == "pair[3].aster_symbol" and "missing required key" in e.value.problem


def test_an_empty_pair_array_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load(write(tmp_path, "pair = []\n[strategy]\nposition_size_usdt = 25\n"))
    assert e.value.key == "pair"
