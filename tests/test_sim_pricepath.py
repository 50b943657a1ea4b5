import itertools
from decimal import Decimal
from pathlib import Path

import pytest

from hedged.sim.pricepath import CsvPath, GbmPath, ScriptedPath


def walk(path: GbmPath, steps: int, dt: float = 1.0) -> list[Decimal]:
    return [path.advance(dt) for _ in range(steps)]


def test_gbm_same_seed_same_path() -> None:
    first = walk(GbmPath(Decimal(150), Decimal("0.8"), seed=7), 200)
    second = walk(GbmPath(Decimal(150), Decimal("0.8"), seed=7), 200)
    assert first == second
    assert len(set(first)) > 100  # it does move


def test_gbm_different_seeds_differ() -> None:
    first = walk(GbmPath(Decimal(150), Decimal("0.8"), seed=1), 20)
    second = walk(GbmPath(Decimal(150), Decimal("0.8"), seed=2), 20)
    assert first != second


def test_gbm_prices_are_positive_decimals_with_8_places() -> None:
    for price in walk(GbmPath(Decimal(150), Decimal("0.8"), seed=3), 50, dt=3600.0):
        assert isinstance(price, Decimal)
        assert price > 0
        assert price == price.quantize(Decimal("0.00000001"))


def test_gbm_daily_moves_scale_with_volatility() -> None:
    path = GbmPath(Decimal(150), Decimal("0.8"), seed=11)
    prices = [path.price, *walk(path, 2000, dt=86400.0)]
    log_returns = [(after / before).ln() for before, after in itertools.pairwise(prices)]
    mean = sum(log_returns, Decimal(0)) / len(log_returns)
    variance = sum(((r - mean) ** 2 for r in log_returns), Decimal(0)) / len(log_returns)
    stdev = variance.sqrt()
    expected = Decimal("0.8") * (Decimal(1) / 365).sqrt()
    assert abs(stdev / expected - 1) < Decimal("0.1")


def test_gbm_without_volatility_stays_put() -> None:
    assert walk(GbmPath(Decimal(100), Decimal(0), seed=5), 10) == [Decimal(100)] * 10


def test_gbm_continues_from_a_forced_price() -> None:
    path = GbmPath(Decimal(150), Decimal("0.8"), seed=1)
    path.set(Decimal(200))
    assert path.price == Decimal(200)
    assert abs(path.advance(1.0) - Decimal(200)) < Decimal(1)


def test_gbm_refuses_negative_time() -> None:
    with pytest.raises(ValueError):
        GbmPath(Decimal(150), Decimal("0.8"), seed=1).advance(-1.0)


def test_csv_replay_with_header_and_absolute_timestamps(tmp_path: Path) -> None:
    csv_file = tmp_path / "sol.csv"
    csv_file.write_text(
        "timestamp,price\n1700000000,150.10\n1700000001,150.20\n1700000003,149.90\n"
    )
    path = CsvPath(csv_file)
    assert path.price == Decimal("150.10")
    assert path.advance(0.5) == Decimal("150.10")
    assert path.advance(0.5) == Decimal("150.20")
    assert path.advance(1.5) == Decimal("150.20")
    assert path.advance(0.5) == Decimal("149.90")
    assert path.advance(100) == Decimal("149.90")  # stays at the last row


def test_csv_replay_relative_timestamps_without_header(tmp_path: Path) -> None:
    csv_file = tmp_path / "sol.csv"
    csv_file.write_text("0,10\n1,11\n\n2,12\n")
    path = CsvPath(csv_file)
    prices = [path.advance(0.1) for _ in range(20)]
    # Ten steps of 0.1 s land exactly on each row.
    assert prices[8] == Decimal(10)
    assert prices[9] == Decimal(11)
    assert prices[19] == Decimal(12)


def test_csv_replay_one_big_step_skips_rows(tmp_path: Path) -> None:
    csv_file = tmp_path / "sol.csv"
    csv_file.write_text("0,10\n1,11\n2,12\n")
    assert CsvPath(csv_file).advance(5) == Decimal(12)


@pytest.mark.parametrize(
    "text", ["", "timestamp,price\n", "0,10\n1,oops\n", "5,10\n4,11\n"], ids=repr
)
def test_csv_refuses_bad_files(tmp_path: Path, text: str) -> None:
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text(text)
    with pytest.raises(ValueError):
        CsvPath(csv_file)


def test_scripted_path_steps_through_prices_then_stays() -> None:
    path = ScriptedPath([Decimal(100), Decimal(101), Decimal("99.5")])
    assert path.price == Decimal(100)
    assert [path.advance(1.0) for _ in range(4)] == [
        Decimal(101),
        Decimal("99.5"),
        Decimal("99.5"),
        Decimal("99.5"),
    ]
    path.set(Decimal(42))
    assert path.price == Decimal(42)
