"""Which code decided what a feed item is (`bot.codeid`, issue 9): settled items stored by one
version of the deciding code are not used by another."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest

from bot import codeid


def _identity() -> bytes:
    return codeid.code_identity.__wrapped__()


def test_the_same_code_gives_the_same_identity() -> None:
    assert codeid.code_identity() == codeid.code_identity() == _identity()
    assert len(codeid.code_identity()) == 16


def test_an_edited_deciding_module_gives_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "watchpost_deciding_probe.py"
    module.write_text("TERMS = ('ceasefire',)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(codeid, "DECIDING", (*codeid.DECIDING, "watchpost_deciding_probe"))
    before = _identity()
    module.write_text("TERMS = ('ceasefire', 'truce')\n")
    assert _identity() != before
    sys.modules.pop("watchpost_deciding_probe", None)


def test_a_module_without_readable_source_is_never_taken_for_the_same_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(codeid, "DECIDING", (*codeid.DECIDING, "watchpost_no_such_module"))
    assert _identity() != _identity()


def test_another_library_version_gives_another(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _identity()
    real = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata,
        "version",
        lambda name: "0.0-other" if name == "feedparser" else real(name),
    )
    assert _identity() != before
