"""The texts of the shared corpus's feed files, for tests that compare a function with a
reference on real text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

FEEDS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "feeds"


def feed_texts() -> Iterator[tuple[Path, str]]:
    """(file, text) of every text node of every feed file lxml can read (recovering): enough
    to find texts, and much faster than feedparser. Skips the test without the corpus."""
    if not FEEDS.is_dir():
        pytest.skip("no ../shared/corpus")
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True)
    for path in sorted(p for p in FEEDS.rglob("*") if p.is_file() and p.suffix != ".tsv"):
        try:
            root = etree.fromstring(path.read_bytes(), parser)
        except etree.XMLSyntaxError:
            continue
        if root is None:
            continue
        for text in root.itertext():
            yield path, text
