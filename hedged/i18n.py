"""The operator's language: English as written in the code, or Chinese from the gettext
catalog `hedged/locale/zh/LC_MESSAGES/hedged.po`.

The catalog is compiled by Babel when the language is chosen, in memory: no compiled file
to build, install or keep in step with the `.po`, and a read-only installation works.
`--lang` chooses; without it LC_ALL, LC_MESSAGES and LANG do, as in POSIX (`zh_CN.UTF-8`
and every other `zh*` locale give Chinese). Log field names and `--json` output stay English.
"""

from __future__ import annotations

import argparse
import gettext
import io
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

LANGUAGES = ("en", "zh")
DOMAIN = "hedged"
LOCALE_DIR = Path(__file__).parent / "locale"

_active: gettext.NullTranslations = gettext.NullTranslations()


def _(message: str) -> str:
    """The message in the chosen language."""
    return _active.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _active.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a string for the catalog where it is defined; `_()` translates it where used."""
    return message


def language_from_env(environ: Mapping[str, str] = os.environ) -> str:
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):  # the first one set decides (POSIX)
        if value := environ.get(name):
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def catalog(language: str) -> gettext.NullTranslations:
    if language == "en":
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with (LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as f:
        compiled = io.BytesIO()
        write_mo(compiled, read_po(f, locale=language))
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def use(language: str) -> None:
    """Speak `language` from now on, argparse's own words (usage, errors) included."""
    global _active
    _active = catalog(language)
    # argparse calls its module's `_` and `ngettext` (gettext's, bound at its import)
    setattr(argparse, "_", _)  # noqa: B010
    setattr(argparse, "ngettext", ngettext)  # noqa: B010


def choose(argv: Sequence[str] | None, environ: Mapping[str, str] = os.environ) -> str:
    """The language of a command line, before it is parsed (its help is in that language):
    its --lang, else the locale's; then used. A bad --lang is left to the parser to report."""
    args = list(sys.argv[1:] if argv is None else argv)
    given = None
    for i, arg in enumerate(args):
        if arg == "--lang" and i + 1 < len(args):
            given = args[i + 1]
        elif arg.startswith("--lang="):
            given = arg.removeprefix("--lang=")
    language = given if given in LANGUAGES else language_from_env(environ)
    use(language)
    return language


def add_lang_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lang",
        choices=LANGUAGES,
        help=_("language of the output: en or zh (default: from LC_ALL, LC_MESSAGES, LANG)"),
    )
