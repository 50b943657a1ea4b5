"""The Grafana dashboard in the repository (etc/grafana/hedged.json): it parses, every panel
queries the Prometheus data source the importer chooses, and every metric its PromQL names is
one a running paper daemon exports, read from a real scrape of `hedged run --paper`."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "etc" / "grafana" / "hedged.json"
STARTUP_SECONDS = 60  # for the daemon to serve /metrics, then for rounds to finish
SUFFIXES = {  # the series each metric type exports
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
}
# What PromQL may name besides metrics: its keywords, and what follows them in parentheses.
KEYWORDS = {"and", "or", "unless", "bool", "offset"}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for p in data["panels"]:
        yield p
        yield from p.get("panels", [])


def queries(data: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in panels(data) for t in p.get("targets", [])]


def metric_names(expr: str) -> set[str]:
    """The metrics a PromQL expression reads: its identifiers, less label matchers ({...}),
    ranges ([...]), numbers and durations (offset 5m), grouping labels (by (...)), Grafana
    variables ($__range), strings, function names (followed by "(") and keywords."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = GROUPING.sub(" ", text)
    text = re.sub(r"\$\w+", " ", text)
    text = re.sub(r"(?<![\w:])[0-9][\w.]*", " ", text)  # numbers and durations: 0.99, 5m
    names = set()
    for m in IDENTIFIER.finditer(text):
        rest = text[m.end() :].lstrip()
        if rest.startswith("(") or m.group() in KEYWORDS:
            continue
        names.add(m.group())
    return names


def exported(text: str) -> set[str]:
    """Every series name the scraped page can carry: each family's, by its type, whether or
    not it has samples yet (a labelled counter nothing has counted)."""
    names = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
        names |= {s.name for s in family.samples}
    return names


def test_the_dashboard_parses_and_every_panel_asks_the_chosen_data_source() -> None:
    data = dashboard()
    (variable,) = data["templating"]["list"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    shown = [p for p in panels(data) if p["type"] != "row"]
    assert len(shown) >= 15
    for p in shown:
        assert p["targets"], p["title"]
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert all(t["datasource"] == p["datasource"] for t in p["targets"]), p["title"]
        assert p["description"], p["title"]
    ids = [p["id"] for p in panels(data)]
    assert len(ids) == len(set(ids))
    titles = {p["title"] for p in data["panels"] if p["type"] == "row"}
    assert titles == {"Rounds", "PnL", "The cost of volume", "Reaction and latency", "Venue health"}


def test_the_query_parser_finds_metrics_and_only_metrics() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, venue) (rate(hedged_a_bucket{venue="x"}'
        "[$__rate_interval]))) - time() + max(hedged_b) / on(book) hedged_c offset 5m"
    )
    assert metric_names(expr) == {"hedged_a_bucket", "hedged_b", "hedged_c"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            text: str = response.read().decode()
            return text
    except OSError:
        return None


def finished_rounds(text: str) -> float:
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        if family.name == "hedged_rounds_finished"
        for s in family.samples
        if s.name == "hedged_rounds_finished_total"
    )


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> str:
    """/metrics of a paper daemon that has finished rounds, which then stops."""
    state = tmp_path_factory.mktemp("paper")
    port = free_port()
    config = state / "hedged.toml"
    config.write_text(
        "[pair]\naster_symbol = 'SOLUSDT'\nbackpack_symbol = 'SOL_USDC_PERP'\n"
        "[strategy]\nposition_size_usdt = 25\ncooldown_seconds = 0\nmax_round_seconds = 2\n"
        f"[metrics]\nport = {port}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEDGED_")}
    env |= {"STATE_DIRECTORY": str(state)}
    env.pop("NOTIFY_SOCKET", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hedged.cli", "run", "--paper", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    text = None
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline and proc.poll() is None:
            text = scrape(url)
            if text is not None and finished_rounds(text) >= 2:
                break
            time.sleep(0.5)
        else:
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"no two rounds finished within {STARTUP_SECONDS}s: {err[-3000:]}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert text is not None
    return text


def test_every_query_names_only_metrics_a_paper_daemon_exports(scraped: str) -> None:
    names = exported(scraped)
    assert "hedged_volume_usdt_total" in names and "hedged_fees_paid_usdt_total" in names
    unknown = {
        expr: sorted(metric_names(expr) - names)
        for expr in queries(dashboard())
        if metric_names(expr) - names
    }
    assert unknown == {}
    named = set().union(*(metric_names(expr) for expr in queries(dashboard())))
    cost = {"volume", "fees_paid", "fee_rebates", "funding_received", "funding_paid", "slippage"}
    assert {f"hedged_{c}_usdt_total" for c in cost} <= named  # the dashboard shows the costs
