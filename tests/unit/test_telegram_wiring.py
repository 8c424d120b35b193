"""Telegram channels in the shared pure parts: watchlist, decisions, context and rendering."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from bot.context import build_context
from bot.errors import ConfigError
from bot.matching import compile_topics
from bot.model import (
    AlertForDelivery,
    AlertKind,
    CachingInfo,
    Reference,
    SourceForPoll,
    SourceKind,
    StoredStatement,
)
from bot.pipeline import statements_to_store
from bot.render import render_alert
from bot.tghtml import parse_tg_html
from bot.watchlist import parse_watchlist
from tests.builders import T0, item, spec, watchlist

YAML = """
speakers:
  - id: az-mod
    name: Ministry of Defence of Azerbaijan
    side: Azerbaijan
    timezone: Asia/Baku
    sources:
{sources}
"""


def _sources(*lines: str) -> str:
    return YAML.replace("{sources}", "\n".join(f"      - {line}" for line in lines))


@pytest.mark.parametrize(
    "written",
    [
        "MODAzerbaijan",
        "'@MODAzerbaijan'",
        "https://t.me/MODAzerbaijan",
        "t.me/s/MODAzerbaijan",
        "https://telegram.me/MODAzerbaijan/",
    ],
)
def test_a_channel_is_written_as_a_name_or_a_link(written: str) -> None:
    wl = parse_watchlist(_sources(f"telegram: {written}"), path="w.yaml")
    (source,) = wl.sources()
    assert source.kind is SourceKind.TELEGRAM
    assert (source.key, source.target) == ("telegram:modazerbaijan", "MODAzerbaijan")


@pytest.mark.parametrize("written", ["1abc_chan", "abc", "https://example.org/MODAzerbaijan"])
def test_what_is_no_channel_name_is_refused(written: str) -> None:
    with pytest.raises(ConfigError, match="is not a public Telegram channel"):
        parse_watchlist(_sources(f"telegram: '{written}'"), path="w.yaml")


def test_a_bad_channel_and_a_duplicate_name_file_line_and_field() -> None:
    text = _sources(
        "telegram: 'not a name'", "telegram: '@MODAzerbaijan'", "telegram: t.me/modazerbaijan"
    )
    with pytest.raises(ConfigError) as exc:
        parse_watchlist(text, path="w.yaml")
    problems = [str(p) for p in exc.value.problems]
    assert problems[0].startswith(
        "w.yaml:8: speakers[0].sources[0].telegram: 'not a name' is not a public Telegram channel"
    )
    assert problems[1].startswith("w.yaml:10: speakers[0].sources[2]: duplicate source")


def test_telegram_edits_alert_as_x_edits_do() -> None:
    sp = spec("telegram:modazerbaijan")
    source = SourceForPoll(sp.key, sp.kind, sp.target, CachingInfo(), "5", 0, True)
    (st,) = statements_to_store(
        sp, source, [item(1)], watchlist(sp), compile_topics(watchlist(sp).topics), now=T0
    )
    assert st.alert_edits


def _statement(**changes: object) -> StoredStatement:
    base = StoredStatement(
        id=1,
        source_key="telegram:modazerbaijan",
        speaker_id="sp1",
        external_id="modazerbaijan/7",
        title="Photo",
        text="Karabakh: the line of contact.",
        url="https://t.me/MODAzerbaijan/7",
        published_at=T0,
        fetched_at=T0 + timedelta(minutes=1),
        language=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_also_published_on_telegram_is_said_so() -> None:
    wl = watchlist(spec("telegram:modazerbaijan"))
    ctx = build_context(_statement(id=2, source_key="feed:x"), wl, also=[_statement()])
    assert ctx.also == (("Speaker sp1 on Telegram", "https://t.me/MODAzerbaijan/7"),)


@pytest.mark.parametrize(
    ("author", "shown"),
    [("armenianmfa", "Forwarded from @armenianmfa"), ("Ali Veliyev", "Forwarded from Ali Veliyev")],
)
def test_a_forward_shows_where_it_comes_from(author: str, shown: str) -> None:
    ref = Reference("forwarded", "armenianmfa/4", author=author, url="https://t.me/armenianmfa/4")
    st = _statement(references=(ref,))
    wl = watchlist(spec("telegram:modazerbaijan"))
    alert = AlertForDelivery(1, "main", "@main", AlertKind.NEW, 0, st, T0)
    html = render_alert(alert, wl.speaker("sp1"), {}, context=build_context(st, wl))
    assert shown in parse_tg_html(html).text
