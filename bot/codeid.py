"""Which code decides what a feed item is: a digest of the deciding modules and libraries.

Issue 9: the items a poll settled are kept in storage (`bot.unchanged`), and are used by the
next poll of any worker, or of the next `watchpost once`. They were decided by this code, with
these libraries: an item that matched no topic may match once the matcher or the text
normalization changes. Settled items are used only by the same code, so an upgrade reads every
feed whole once.

The digest covers the source of the modules that turn an item into text, hash it and match
it, the versions of the libraries they parse with, and the Python version (Unicode tables). A
module whose source cannot be read (a frozen build) makes the digest unique to this process:
settled items then serve this process only, never another one's code.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import os
import sys
from pathlib import Path

__all__ = ["code_identity"]

#: the modules whose code decides an item's text, hash, digest and topics
DECIDING = (
    "bot.model",
    "bot.text",
    "bot.matching",
    "bot.ingest",
    "bot.unchanged",
    "bot.pipeline",
    "bot.sources.bounds",
    "bot.sources.fastfeed",
    "bot.sources.feedmedia",
    "bot.sources.feedparse",
)
#: the distributions they parse and repair text with
LIBRARIES = ("feedparser", "ftfy", "lxml")


@functools.cache
def code_identity() -> bytes:
    """16 bytes that differ whenever the deciding code or its libraries differ."""
    h = hashlib.blake2b(digest_size=16)
    h.update(sys.version.encode())
    for name in DECIDING:
        h.update(b"\x00" + name.encode() + b"\x00")
        h.update(_source(name))
    for name in LIBRARIES:
        # by the installed distribution, without importing it (the parser imports ftfy only
        # when a text is not ASCII)
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "?"
        h.update(f"\x00{name}={version}".encode())
    return h.digest()


def _source(module: str) -> bytes:
    spec = importlib.util.find_spec(module)
    origin = spec.origin if spec is not None else None
    try:
        return Path(origin).read_bytes() if origin else os.urandom(16)
    except OSError:
        return os.urandom(16)
