"""Measure feed parsers on the shared corpus: speed, crashes, entries, and what each gets right.

Run from the repository root::

    python benchmarks/parse_corpus.py [--corpus ../shared/corpus] [--repeat 3]

Every feed file under ``<corpus>/feeds/`` is parsed by each candidate, ``--repeat`` times in the
same run; the time of a file is the median of its runs, and a candidate's total is the sum of its
medians. Candidates:

- ``feedparser``: ``feedparser.parse(BytesIO(body))`` (feedparser 6 does not read JSON Feed).
- ``fastfeedparser``: ``fastfeedparser.parse(body)``.
- ``ffp>fp``: fastfeedparser, falling back to feedparser on an exception or zero entries.
- ``ffp>fp+json``: as ``ffp>fp``, with JSON bodies read by Watchpost's stdlib JSON Feed reader.
- ``fp+json``: feedparser, with JSON bodies read by Watchpost's JSON Feed reader.
- ``watchpost``: ``bot.sources.feedparse.parse_feed`` end to end (normalization included);
  a ``FeedParseError`` counts as "rejected", any other exception as a crash.

Correctness, where the corpus lets it be checked:

- ``feeds_expected/``: feed-rs serde JSON and rss-parser JSON. Entries are paired by position;
  titles (as plain text), links (resolved against the feed URL and compared with
  ``canonical_url``), dates (as UTC instants, within a second) and ids are compared. Skipped:
  feed-rs ids that are its own generated hashes, expected titles holding U+FFFD (rss-parser's
  mojibake of ISO-8859-1 feeds), and missing expected values.
- Cyrillic and Turkish files of the chardet corpus and ``node-feedparser/.../iconv.xml``: a file is
  right when its titles contain letters of the expected script and no mojibake (U+FFFD, C1
  controls, Latin-1 letters standing for Cyrillic, box-drawing characters).
- Dates: entries with a date (always converted to aware UTC here) against entries whose source
  has a date element; ids: parsing twice gives the same ids, and ids repeated inside one feed.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import fastfeedparser
import feedparser

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.errors import FeedParseError  # noqa: E402
from bot.sources.feedparse import parse_feed  # noqa: E402
from bot.text import canonical_url, content_hash, html_to_text  # noqa: E402

FETCHED_AT = datetime(2030, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry reduced to what the comparisons need."""

    id: str
    title: str
    link: str | None
    date: datetime | None
    #: the body as the library gives it (HTML or text); made plain outside the timing
    body: str = ""


@dataclass(slots=True)
class Outcome:
    """One candidate on one file."""

    entries: list[Entry] | None = None  # None: crashed or rejected
    error: str | None = None
    rejected: bool = False
    ms: float = 0.0


Candidate = Callable[[bytes, str], list[Entry]]


# --- turning each library's result into entries --------------------------------------------


def _fp_date(e: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        st = e.get(key)
        if st:
            return datetime(*st[:6], tzinfo=UTC)
    return None


def _iso_date(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        d = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


def _entry(
    raw_id: Any, title: Any, link: Any, date: datetime | None, base: str, body: Any
) -> Entry:
    title_s = title if isinstance(title, str) else ""
    link_s = urljoin(base, link.strip()) if isinstance(link, str) and link.strip() else None
    if isinstance(raw_id, str) and raw_id.strip():
        ext = raw_id.strip()
    elif link_s:
        ext = link_s
    else:
        ext = content_hash(title_s, date.isoformat() if date else "")
    return Entry(ext, title_s, link_s, date, body if isinstance(body, str) else "")


def run_feedparser(body: bytes, url: str) -> list[Entry]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = feedparser.parse(io.BytesIO(body))
    return [
        _entry(e.get("id"), e.get("title"), e.get("link"), _fp_date(e), url, _body(e, "summary"))
        for e in r.entries
    ]


def _body(e: Any, fallback: str) -> Any:
    content = e.get("content")
    if content and isinstance(content, list) and isinstance(content[0], dict):
        return content[0].get("value") or e.get(fallback)
    return e.get(fallback)


def run_fastfeedparser(body: bytes, url: str) -> list[Entry]:
    r = fastfeedparser.parse(body)
    return [
        _entry(
            e.get("id"),
            e.get("title"),
            e.get("link"),
            _iso_date(e.get("published")) or _iso_date(e.get("updated")),
            url,
            _body(e, "description"),
        )
        for e in r.get("entries", [])
    ]


def _is_json(body: bytes) -> bool:
    return body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def _watchpost_entries(body: bytes, url: str) -> list[Entry]:
    parsed = parse_feed(body, source_key="bench", url=url, content_type=None, fetched_at=FETCHED_AT)
    return [
        Entry(
            i.external_id,
            i.title,
            i.url,
            None if i.published_estimated else i.published_at,
            i.text,
        )
        for i in parsed.items
    ]


def run_ffp_fp(body: bytes, url: str) -> list[Entry]:
    try:
        found = run_fastfeedparser(body, url)
    except Exception:
        found = []
    return found or run_feedparser(body, url)


def run_ffp_fp_json(body: bytes, url: str) -> list[Entry]:
    if _is_json(body):
        return _watchpost_entries(body, url)
    return run_ffp_fp(body, url)


def run_fp_json(body: bytes, url: str) -> list[Entry]:
    if _is_json(body):
        return _watchpost_entries(body, url)
    return run_feedparser(body, url)


CANDIDATES: dict[str, Candidate] = {
    "feedparser": run_feedparser,
    "fastfeedparser": run_fastfeedparser,
    "ffp>fp": run_ffp_fp,
    "ffp>fp+json": run_ffp_fp_json,
    "fp+json": run_fp_json,
    "watchpost": _watchpost_entries,
}


# --- expectations --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expected:
    """What a source project says a feed holds."""

    ids: list[str | None]
    titles: list[str | None]
    links: list[str | None]
    dates: list[datetime | None]


# feed-rs makes up an id (an md5 or a UUID) for an item that has none.
_GENERATED_ID = re.compile(r"^(?:[0-9a-f]{20,32}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})$")


def _strip(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _load_json(path: Path) -> Any:
    raw = path.read_bytes()
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return json.loads(raw.decode("latin-1"))


def load_expectations(corpus: Path) -> dict[str, Expected]:
    """Expected entries per feed path (relative to feeds/), from feed-rs and rss-parser."""
    out: dict[str, Expected] = {}
    root = corpus / "feeds_expected"
    for p in sorted((root / "feed-rs").rglob("*.serde.json")):
        rel = p.relative_to(root)
        stem = p.name[: -len(".serde.json")]
        matches = list((corpus / "feeds" / rel.parent).glob(stem + ".*"))
        if not matches:
            continue
        data = _load_json(p)
        entries = data.get("entries") or []
        out[str(matches[0].relative_to(corpus / "feeds"))] = Expected(
            ids=[
                None if _GENERATED_ID.match(e.get("id") or "") else _strip(e.get("id"))
                for e in entries
            ],
            titles=[(e.get("title") or {}).get("content") for e in entries],
            links=[_strip((e.get("links") or [{}])[0].get("href")) for e in entries],
            dates=[_iso_date(e.get("published") or e.get("updated")) for e in entries],
        )
    for p in sorted((root / "rss-parser" / "test" / "output").glob("*.json")):
        matches = list((corpus / "feeds" / "rss-parser" / "test" / "input").glob(p.stem + ".*"))
        if not matches:
            continue
        items = (_load_json(p).get("feed") or {}).get("items") or []
        out[str(matches[0].relative_to(corpus / "feeds"))] = Expected(
            ids=[_strip(i.get("guid")) or _strip(i.get("id")) for i in items],
            titles=[i.get("title") if isinstance(i.get("title"), str) else None for i in items],
            links=[_strip(i.get("link")) for i in items],
            dates=[_iso_date(i.get("isoDate")) for i in items],
        )
    return out


def _plain(s: str) -> str:
    return html_to_text(s)


@dataclass(slots=True)
class Agreement:
    """Counts of checks passed against a source project's expectations."""

    files: int = 0
    count_ok: int = 0
    checks: dict[str, list[int]] = field(
        default_factory=lambda: {k: [0, 0] for k in ("id", "title", "link", "date")}
    )

    def add(self, name: str, ok: bool) -> None:
        self.checks[name][1] += 1
        self.checks[name][0] += int(ok)


def compare(
    path: str, found: list[Entry] | None, exp: Expected, agg: Agreement, misses: list[str]
) -> None:
    agg.files += 1
    got = found or []
    agg.count_ok += int(len(got) == len(exp.ids))
    for i in range(len(exp.ids)):
        e = got[i] if i < len(got) else None
        checks: list[tuple[str, object, object, bool]] = []
        if exp.ids[i]:
            checks.append(("id", exp.ids[i], e and e.id, e is not None and e.id == exp.ids[i]))
        # rss-parser decoded some ISO-8859-1 feeds as UTF-8: a U+FFFD there is its mistake.
        if exp.titles[i] is not None and "\ufffd" not in (exp.titles[i] or ""):
            ok = e is not None and _plain(e.title) == _plain(exp.titles[i] or "")
            checks.append(("title", exp.titles[i], e and e.title, ok))
        if exp.links[i]:
            # Compared as pages: expected links resolved as we resolve ours, spelling folded.
            want = canonical_url(urljoin("https://example.org/feeds/" + path, exp.links[i] or ""))
            ok = e is not None and e.link is not None and canonical_url(e.link) == want
            checks.append(("link", exp.links[i], e and e.link, ok))
        if exp.dates[i] is not None:
            d = e.date if e else None
            ok = d is not None and abs((d - exp.dates[i]).total_seconds()) < 1
            checks.append(("date", exp.dates[i], d, ok))
        for name, want, got_value, ok in checks:
            agg.add(name, ok)
            if not ok:
                misses.append(f"{path} #{i} {name}: expected {want!r}, got {got_value!r}"[:300])


# --- script checks -------------------------------------------------------------------------

_LETTERS = {"cyrillic": re.compile(r"[\u0400-\u04ff]"), "turkish": re.compile(r"[şŞğĞıİ]")}
# What the text looks like when a Cyrillic or Turkish encoding was decoded as another: U+FFFD,
# C1 controls, and runs of Latin-1 letters standing for Cyrillic words (or İ Ş ğ ı ş as Latin-1).
_MOJIBAKE = {
    "cyrillic": re.compile(r"[\ufffd\u0080-\u009f]|[\u00c0-\u00ff]{3,}"),
    "turkish": re.compile(r"[\ufffd\u0080-\u009fÝÞðýþ]"),
}
_CYRILLIC_DIRS = frozenset(
    {
        "KOI8-R",
        "windows-1251-russian",
        "windows-1251-bulgarian",
        "iso-8859-5-russian",
        "IBM866",
        "MacCyrillic",
    }
)


def script_files(paths: Iterable[str]) -> dict[str, str]:
    """The files whose text must come out in a known script, and the script."""
    out: dict[str, str] = {}
    for p in paths:
        parts = p.split("/")
        if parts[0] == "chardet" and len(parts) > 2 and parts[2] in _CYRILLIC_DIRS:
            out[p] = "cyrillic"
        elif parts[0] == "chardet" and len(parts) > 2 and parts[2] == "iso-8859-9-turkish":
            out[p] = "turkish"
        elif p.endswith("node-feedparser/test/feeds/iconv.xml"):
            out[p] = "cyrillic"
    return out


def script_ok(found: list[Entry] | None, script: str) -> bool:
    """Titles and texts hold the script's letters and no mojibake."""
    if not found:
        return False
    words = " ".join(f"{e.title} {_plain(e.body)}" for e in found)
    return bool(_LETTERS[script].search(words)) and not _MOJIBAKE[script].search(words)


# C1 controls in text: windows-1252 punctuation (0x80-0x9f) decoded as ISO-8859-1.
_C1 = re.compile(r"[\u0080-\u009f]")

_DATE_TAG = re.compile(
    rb"<(?:\w+:)?(?:pubDate|published|updated|date|issued|modified|created)\b"
    rb"|\"date_published\"|\"date_modified\"",
    re.IGNORECASE,
)


# --- the run -------------------------------------------------------------------------------


def feed_files(corpus: Path) -> list[Path]:
    root = corpus / "feeds"
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != "MANIFEST.tsv")


def measure(name: str, fn: Candidate, body: bytes, url: str, repeat: int) -> Outcome:
    out = Outcome()
    times: list[float] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        try:
            out.entries = fn(body, url)
            out.error = None
        except FeedParseError as exc:
            out.entries, out.rejected, out.error = None, True, str(exc)
        except Exception as exc:  # a crash is what we count here
            out.entries, out.error = None, f"{type(exc).__name__}: {exc}"[:120]
        times.append((time.perf_counter() - t0) * 1000)
    out.ms = statistics.median(times)
    return out


def print_engine_agreement(fp: dict[str, list[Entry]], ffp: dict[str, list[Entry]]) -> None:
    """Where both libraries read a file: do they give the same entries?

    A hybrid that falls back from one to the other must not change ids or text between polls.
    """
    same_count = files = 0
    agree = {k: 0 for k in ("id", "title", "link", "date", "text")}
    pairs = 0
    for path, a in fp.items():
        b = ffp.get(path) or []
        if not a or not b:
            continue
        files += 1
        if len(a) != len(b):
            continue
        same_count += 1
        for x, y in zip(a, b, strict=True):
            pairs += 1
            agree["id"] += x.id == y.id
            agree["title"] += _plain(x.title) == _plain(y.title)
            agree["link"] += x.link == y.link
            agree["date"] += x.date == y.date
            agree["text"] += _plain(x.body) == _plain(y.body)
    print(
        f"\nfeedparser vs fastfeedparser, files both read: {files}; same entry count: "
        f"{same_count}; entries paired: {pairs}"
    )
    print("| same id | same title | same link | same date | same plain text |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    print("| " + " | ".join(f"{agree[k]}/{pairs}" for k in agree) + " |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=list(CANDIDATES))
    ap.add_argument("--details", action="store_true", help="list misses and crashes")
    args = ap.parse_args(argv)
    if not (args.corpus / "feeds").is_dir():
        print(f"no corpus at {args.corpus}", file=sys.stderr)
        return 2
    files = feed_files(args.corpus)
    rel = [str(p.relative_to(args.corpus / "feeds")) for p in files]
    bodies = [p.read_bytes() for p in files]
    expected = load_expectations(args.corpus)
    scripts = script_files(rel)
    has_date = {r: bool(_DATE_TAG.search(b)) for r, b in zip(rel, bodies, strict=True)}

    rows: list[dict[str, Any]] = []
    found_by: dict[str, dict[str, list[Entry]]] = {}
    for name in args.only:
        found_by[name] = {}
        fn = CANDIDATES[name]
        agg = Agreement()
        misses: list[str] = []
        crashes: list[str] = []
        total_ms = 0.0
        entries = zero = rejected = 0
        dated = dated_possible = unstable = dup_files = 0
        script_good = fffd = c1 = 0
        for r, body in zip(rel, bodies, strict=True):
            url = "https://example.org/feeds/" + r
            o = measure(name, fn, body, url, args.repeat)
            total_ms += o.ms
            if o.rejected:
                rejected += 1
            elif o.entries is None:
                crashes.append(f"{r}: {o.error}")
            got = o.entries or []
            found_by[name][r] = got
            fffd += sum("\ufffd" in e.title for e in got)
            c1 += sum(bool(_C1.search(_plain(e.body))) for e in got)
            entries += len(got)
            zero += int(o.entries is not None and not got)
            if has_date[r]:
                dated_possible += len(got)
                dated += sum(e.date is not None for e in got)
            if got:
                again = measure(name, fn, body, url, 1).entries or []
                unstable += int([e.id for e in again] != [e.id for e in got])
                dup_files += int(len({e.id for e in got}) != len(got))
            if r in expected:
                compare(r, o.entries, expected[r], agg, misses)
            if r in scripts:
                good = script_ok(o.entries, scripts[r])
                script_good += int(good)
                if not good:
                    titles = " | ".join(e.title for e in got)[:150]
                    misses.append(f"{r} script: {titles!r}")
        rows.append(
            dict(
                name=name,
                files=len(files),
                crashes=len(crashes),
                rejected=rejected,
                zero=zero,
                entries=entries,
                ms=total_ms,
                agg=agg,
                dated=dated,
                dated_possible=dated_possible,
                unstable=unstable,
                dup_files=dup_files,
                script_good=script_good,
                misses=misses,
                crash_list=crashes,
                fffd=fffd,
                c1=c1,
            )
        )

    base = next((r["ms"] for r in rows if r["name"] == "feedparser"), None)
    print(
        f"corpus: {args.corpus} ({len(files)} files, {sum(map(len, bodies)):,} bytes); "
        f"Python {sys.version.split()[0]}, feedparser {feedparser.__version__}, "
        f"fastfeedparser {getattr(fastfeedparser, '__version__', '?')}; "
        f"median of {args.repeat} runs per file\n"
    )
    print("| candidate | crashes | rejected | 0 entries | entries | total ms | vs feedparser |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        ratio = f"{r['ms'] / base:.2f}x" if base else "-"
        print(
            f"| {r['name']} | {r['crashes']} | {r['rejected']} | {r['zero']} | {r['entries']:,} "
            f"| {r['ms']:,.1f} | {ratio} |"
        )
    n_exp = len(expected)
    n_scr = len(scripts)
    print(
        f"\nCorrectness: {n_exp} files with published expectations (feed-rs, rss-parser); "
        f"{n_scr} Cyrillic/Turkish files\n"
    )
    print(
        "| candidate | entry count = expected | ids | titles | links | dates "
        "| script files right | titles with U+FFFD | texts with C1 controls | entries dated* "
        "| id unstable | dup ids |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        a: Agreement = r["agg"]
        cells = " | ".join(
            f"{ok}/{n}" for ok, n in (a.checks[k] for k in ("id", "title", "link", "date"))
        )
        print(
            f"| {r['name']} | {a.count_ok}/{a.files} | {cells} | {r['script_good']}/{n_scr} "
            f"| {r['fffd']} | {r['c1']} | {r['dated']}/{r['dated_possible']} | {r['unstable']} "
            f"| {r['dup_files']} |"
        )
    print("\n* entries given a date from the feed, among entries of files that have date elements")
    if "feedparser" in found_by and "fastfeedparser" in found_by:
        print_engine_agreement(found_by["feedparser"], found_by["fastfeedparser"])
    if args.details:
        for r in rows:
            print(f"\n## {r['name']}")
            for c in r["crash_list"]:
                print("crash:", c)
            for m in r["misses"]:
                print("miss:", m)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
