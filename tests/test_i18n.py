"""The Chinese catalog: complete for every string the code marks, placeholders kept; the
language chosen by --lang or the locale; a configuration error in Chinese."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from hedged import i18n
from hedged.config import EX_CONFIG

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "hedged" / "locale" / "zh" / "LC_MESSAGES" / "hedged.po"
SOURCES = (ROOT / "hedged", ROOT / "states")
BRACES = re.compile(r"\{([a-z_]*)[^}]*\}")
PERCENT = re.compile(r"%(\([a-z_]+\))?[-#0 +]*\d*(\.\d+)?[sdrf%]")


def marked() -> dict[str, str]:
    """Every string the code marks for translation (Babel's extraction), by where it is."""
    found: dict[str, str] = {}
    for source in SOURCES:
        for file, line, message, _comments, _context in extract_from_dir(source):
            for text in message if isinstance(message, tuple) else (message,):
                if text:
                    found.setdefault(text, f"{source.name}/{file}:{line}")
    return found


def translations() -> dict[str, str]:
    with CATALOG.open("rb") as f:
        catalog = read_po(f)
    table: dict[str, str] = {}
    for m in catalog:
        if not m.id or m.fuzzy:
            continue
        ids = m.id if isinstance(m.id, tuple | list) else (m.id,)
        strings = m.string if isinstance(m.string, tuple | list) else (m.string,)
        for text in ids:
            table[str(text)] = str(strings[0] or "")
    return table


def test_every_marked_string_has_a_chinese_translation() -> None:
    found, table = marked(), translations()
    assert len(found) > 250  # the extraction saw the code, not an empty tree
    missing = {text: where for text, where in found.items() if not table.get(text)}
    assert not missing, f"untranslated (add them to {CATALOG.relative_to(ROOT)}): {missing}"


def test_every_module_that_translates_imports_the_catalog() -> None:
    """A module calling `_()` without importing it would call whatever else `_` is there (a
    throwaway loop variable, say) only when that message is logged."""
    root = Path(__file__).resolve().parent.parent
    missing = [
        str(path.relative_to(root))
        for folder in ("hedged", "states", "adapters")
        for path in (root / folder).rglob("*.py")
        if path.name != "i18n.py"
        and re.search(r"(?<![\w.])_\(", text := path.read_text())
        and not re.search(r"^from hedged\.i18n import [^\n]*\b_\b", text, re.M)
    ]
    assert missing == []


def test_translations_keep_their_placeholders() -> None:
    for text, chinese in translations().items():
        assert sorted(BRACES.findall(chinese)) == sorted(BRACES.findall(text)), text
        assert [m[0] for m in PERCENT.finditer(chinese)] == [
            m[0] for m in PERCENT.finditer(text)
        ], text


def test_argparse_words_are_in_the_catalog() -> None:
    """argparse's own messages go through our catalog: the ones a user meets are there."""
    table = translations()
    for text in ("usage: ", "options", "show this help message and exit"):
        assert table[text]
    assert table["invalid choice: %(value)r (choose from %(choices)s)"]


@pytest.mark.parametrize(
    ("environ", "language"),
    [
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "zh_TW.UTF-8"}, "zh"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({}, "en"),
        ({"LANG": "C"}, "en"),
        ({"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),  # LC_ALL first
        ({"LC_ALL": "C.UTF-8", "LC_MESSAGES": "zh_CN.UTF-8"}, "en"),
        ({"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),
        ({"LC_ALL": "", "LANG": "zh_CN.UTF-8"}, "zh"),  # an empty one is not set
    ],
)
def test_language_follows_the_locale(environ: dict[str, str], language: str) -> None:
    assert i18n.language_from_env(environ) == language


@pytest.mark.parametrize(
    ("argv", "environ", "language"),
    [
        (["status", "--lang", "zh"], {"LANG": "en_US.UTF-8"}, "zh"),
        (["--lang=en", "status"], {"LANG": "zh_CN.UTF-8"}, "en"),
        (["status"], {"LANG": "zh_CN.UTF-8"}, "zh"),
        (["status", "--lang", "fr"], {"LANG": "zh_CN.UTF-8"}, "zh"),  # the parser refuses fr
    ],
)
def test_lang_option_wins_over_the_locale(
    argv: list[str], environ: dict[str, str], language: str
) -> None:
    assert i18n.choose(argv, environ) == language
    expected = "选项" if language == "zh" else "options"
    assert i18n._("options") == expected


def test_argparse_speaks_the_chosen_language(capsys: pytest.CaptureFixture[str]) -> None:
    i18n.use("zh")
    p = argparse.ArgumentParser(prog="x")
    p.add_argument("--mode", choices=["a", "b"])
    with pytest.raises(SystemExit):
        p.parse_args(["--mode", "c"])
    assert "x：错误：参数 --mode：无效的选择：'c'（可选：'a', 'b'）" in capsys.readouterr().err


def run(argv: list[str], tmp_path: Path, lang: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LC_")}
    env |= {"LANG": lang, "STATE_DIRECTORY": str(tmp_path)}
    return subprocess.run(
        [sys.executable, *argv], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        (
            "zh_CN.UTF-8",
            ["配置错误", "strategy.stop_lost", "未知的键", "（是否想写 'stop_loss'？）"],
        ),
        ("en_US.UTF-8", ["configuration error", "unknown key (did you mean 'stop_loss'?)"]),
    ],
)
def test_configuration_error_in_the_locales_language(
    tmp_path: Path, lang: str, words: list[str]
) -> None:
    config = tmp_path / "hedged.toml"
    config.write_text(
        '[pair]\naster_symbol = "SOLUSDT"\nbackpack_symbol = "SOL_USDC_PERP"\n'
        "[strategy]\nposition_size_usdt = 25\nstop_lost = 0.01\n"
    )
    for argv in (
        ["-m", "hedged.cli", "run", "--paper", "--config", str(config)],
        ["-m", "hedged.ctl", "status", "--config", str(config)],
    ):
        done = run(argv, tmp_path, lang)
        assert done.returncode == EX_CONFIG, done.stderr
        for word in words:
            assert word in done.stderr, done.stderr


def test_help_in_chinese(tmp_path: Path) -> None:
    done = run(["-m", "hedged.cli", "run", "--help"], tmp_path, "zh_CN.UTF-8")
    assert done.returncode == 0
    assert "用法：hedged run" in done.stdout
    assert "在内置的交易所模拟器上交易；无需密钥" in done.stdout  # --paper
    assert "输出语言：en 或 zh" in done.stdout  # --lang
