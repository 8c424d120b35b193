"""The preview page parser, on the fake's pages and on blocks shaped like saved real ones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.fakes.telegram_preview import FakePreview, render_page
from bot.model import StatementKind
from bot.sources.tgpreview import (
    MediaKind,
    layout_problem,
    parse_preview_page,
    post_to_item,
)

NOW = datetime(2020, 9, 28, tzinfo=UTC)


def _page(fake: FakePreview, name: str = "azmfa", before: int | None = None) -> bytes:
    ch = fake._channels[name.lower()]
    return render_page(ch, [p for p in ch.posts if not p.deleted], before).encode()


@pytest.fixture
def fake() -> FakePreview:
    f = FakePreview()
    f.add_channel("AzMFA", "Azərbaycan Respublikası XİN")
    return f


def test_text_keeps_paragraphs_links_and_hashtags(fake: FakePreview) -> None:
    text = "Birinci abzas.\n\nİkinci: https://mfa.gov.az/news/1 #Qarabağ"
    fake.post("AzMFA", text, signature="L")
    (post,) = parse_preview_page(_page(fake)).posts
    assert post.text == "Birinci abzas.\n\nİkinci: https://mfa.gov.az/news/1 #Qarabağ"
    assert post.signature == "L" and not post.edited
    assert post.published_at == datetime(2020, 9, 27, 4, 0, tzinfo=UTC)
    assert post.url == "https://t.me/AzMFA/1"


def test_a_link_keeps_its_target_after_its_words() -> None:
    html = (
        '<div class="tgme_widget_message js-widget_message" data-post="x_chan/5">'
        '<div class="tgme_widget_message_text js-message_text">See <b>the</b> '
        '<a href="https://vk.com/mchs32">ministry page</a> and @mention_here<br/>'
        '<a href="https://t.me/x_chan">@x_chan</a></div>'
        '<a class="tgme_widget_message_date" href="https://t.me/x_chan/5">'
        '<time datetime="2024-12-05T13:10:40+00:00">13:10</time></a></div>'
    )
    (post,) = parse_preview_page(html).posts
    assert post.text == "See the ministry page (https://vk.com/mchs32) and @mention_here\n@x_chan"


def test_the_edited_mark_and_an_edit(fake: FakePreview) -> None:
    n = fake.post("AzMFA", "Old words.")
    fake.edit("AzMFA", n, "New words.")
    (post,) = parse_preview_page(_page(fake)).posts
    assert post.edited and post.text == "New words."


def test_media_with_captions(fake: FakePreview) -> None:
    fake.post("AzMFA", "Caption of a photo.", media="photo")
    fake.post("AzMFA", "Caption of a video.", media="video")
    fake.post("AzMFA", "Album caption.", album=3)
    fake.post("AzMFA", "Report attached.", document="report.pdf")
    fake.post("AzMFA", "", poll=("Talks or truce?", ("Talks", "Truce")))
    photo, video, album, doc, poll = parse_preview_page(_page(fake)).posts
    assert photo.media == (MediaKind.PHOTO,) and photo.text == "Caption of a photo."
    assert video.media == (MediaKind.VIDEO,)
    # the video's running time is a <time> too: the post's date is still the date link's
    assert video.published_at == datetime(2020, 9, 27, 4, 1, tzinfo=UTC)
    assert album.album and album.media == (MediaKind.PHOTO,) * 3
    assert album.numbers == (3, 4, 5) and doc.number == 6  # items take numbers
    assert doc.media == (MediaKind.DOCUMENT,) and doc.media_title == "report.pdf"
    assert poll.media_title == "Talks or truce?" and poll.poll_options == ("Talks", "Truce")
    items = [post_to_item(p, "AzMFA", NOW) for p in (photo, album, doc, poll)]
    assert [i.title for i in items] == [
        "Photo",
        "Album: 3 photos",
        "Document: report.pdf",
        "Poll: Talks or truce?",
    ]
    assert items[3].text == "• Talks\n• Truce"


def test_poll_percentages_are_not_text(fake: FakePreview) -> None:
    fake.post("AzMFA", "", poll=("Q?", ("A", "B")))
    before = post_to_item(parse_preview_page(_page(fake)).posts[0], "azmfa", NOW)
    fake.vote("AzMFA")
    after = post_to_item(parse_preview_page(_page(fake)).posts[0], "azmfa", NOW)
    assert (before.title, before.text) == (after.title, after.text)


def test_forward_and_reply_are_context_not_text(fake: FakePreview) -> None:
    first = fake.post("AzMFA", "The first statement.")
    fake.post("AzMFA", "A forwarded text.", forwarded=("MFA Armenia", "https://t.me/MFAarm/45"))
    fake.post("AzMFA", "Our answer.", reply_to=first)
    fake.post("AzMFA", "From a person.", forwarded=("Ali Veliyev", None))
    _, fwd, reply, person = parse_preview_page(_page(fake)).posts
    assert fwd.text == "A forwarded text." and fwd.forward is not None
    assert (fwd.forward.username, fwd.forward.number) == ("MFAarm", 45)
    assert reply.text == "Our answer." and reply.reply is not None
    assert (reply.reply.number, reply.reply.text) == (first, "The first statement.")
    fwd_item = post_to_item(fwd, "AzMFA", NOW)
    assert fwd_item.kind is StatementKind.REPOST
    assert fwd_item.references[0].type == "forwarded"
    assert fwd_item.references[0].external_id == "mfaarm/45"
    reply_item = post_to_item(reply, "AzMFA", NOW)
    assert reply_item.kind is StatementKind.REPLY
    assert reply_item.references[0].external_id == f"azmfa/{first}"
    assert post_to_item(person, "AzMFA", NOW).references[0].author == "Ali Veliyev"


def test_service_messages_and_hidden_posts(fake: FakePreview) -> None:
    fake.post("AzMFA", service="Channel name was changed to «XİN»")
    fake.post("AzMFA", "Shown only in the app.", hidden=True)
    fake.post("AzMFA", "An ordinary post, with the generic footer placeholder.")
    service, hidden, ordinary = parse_preview_page(_page(fake)).posts
    assert service.service and not service.hidden
    assert hidden.hidden and hidden.text == "" and hidden.readable
    assert not ordinary.hidden and ordinary.text.startswith("An ordinary post")


def test_a_reply_quote_is_never_read_as_the_post() -> None:
    # Shaped like tchan's test_parse_text_reply_to_video (t.me/s/tchantest/20).
    html = (
        '<div class="tgme_widget_message js-widget_message" data-post="tchantest/20">'
        '<a class="tgme_widget_message_reply" href="https://t.me/tchantest/19">'
        '<div class="tgme_widget_message_author"><span class="tgme_widget_message_author_name">'
        "tchan's test channel</span></div>"
        '<div class="tgme_widget_message_metatext js-message_reply_text">Video</div></a>'
        '<div class="tgme_widget_message_text js-message_text">Reply to a video</div>'
        '<span class="tgme_widget_message_meta"><a class="tgme_widget_message_date" '
        'href="https://t.me/tchantest/20"><time datetime="2023-02-24T07:38:31+00:00">07:38</time>'
        "</a></span></div>"
    )
    (post,) = parse_preview_page(html).posts
    assert post.text == "Reply to a video"
    assert post.reply is not None and post.reply.text == "Video" and post.reply.number == 19


def test_paging_link_and_page_facts(fake: FakePreview) -> None:
    for i in range(25):
        fake.post("AzMFA", f"Post {i}.")
    page = parse_preview_page(_page(fake, before=6))
    assert page.before == 6 and page.title == "Azərbaycan Respublikası XİN"
    assert page.has_history and page.has_channel_info and page.blocks == 25


def test_a_changed_layout_is_a_problem_an_empty_channel_is_not(fake: FakePreview) -> None:
    empty = _page(fake)
    assert layout_problem(parse_preview_page(empty), len(empty)) is None
    fake.post("AzMFA", "Text.")
    fake.break_layout("AzMFA")
    broken = _page(fake)
    problem = layout_problem(parse_preview_page(broken), len(broken))
    assert problem is not None and "layout" in problem
    assert layout_problem(parse_preview_page(b"<html><body>Sorry</body></html>"), 31)


def test_unreadable_blocks_are_named() -> None:
    html = (
        '<section class="tgme_channel_history">'
        '<div class="tgme_widget_message" data-post="chan/1"><div class="x">?</div></div>'
        '<div class="tgme_widget_message" data-post="chan/x"></div>'
        '<div class="tgme_message_v3" data-post="chan/3"></div></section>'
    )
    page = parse_preview_page(html)
    assert page.posts == () and len(page.problems) == 3
    assert "chan/1" in (layout_problem(page, len(html)) or "")


@settings(derandomize=True, deadline=None, max_examples=150)
@given(st.text(max_size=400) | st.binary(max_size=400))
@example('<div class="tgme_widget_message" data-post="a/1"><time datetime="x"></time></div>')
@example(b"\x00\xff<html")
@example('<div class="tgme_widget_message" data-post="a/\u00b2"></div>')
@example('<a class="tme_messages_more" data-before="\u00b2"></a>')
def test_any_body_parses_without_raising(body: str | bytes) -> None:
    page = parse_preview_page(body)
    size = len(body)
    problem = layout_problem(page, size)
    assert problem is None or isinstance(problem, str)


def test_the_channel_id_comes_from_data_view() -> None:
    # data-view of t.me/s/tchantest/1 as saved in tchan's test_tchan.py
    view = "eyJjIjotMTU5MTUzNzY3NCwicCI6MSwidCI6MTY3NzIyODczMywiaCI6ImYwZGZmMWI4YTI4ZmMwOTk4ZiJ9"
    html = (
        f'<div class="tgme_widget_message" data-post="tchantest/1" data-view="{view}">'
        '<div class="tgme_widget_message_text js-message_text">Hi</div>'
        '<time datetime="2023-02-24T07:26:49+00:00"></time></div>'
    )
    assert parse_preview_page(html).chat_id == "-1591537674"
    broken = html.replace(view, "!!not-base64")
    assert parse_preview_page(broken).chat_id is None


def test_entities_emoji_and_nested_blocks_read_as_text(fake: FakePreview) -> None:
    # Shaped like the real markup: <b>, <i>, <u>, <code>, <tg-emoji><i class="emoji"><b>…</b></i>,
    # a text link, a hashtag link and a quote block inside the text.
    fake.post(
        "AzMFA",
        html_text=(
            '<tg-emoji emoji-id="5447545246172850059"><i class="emoji" '
            "style=\"background-image:url('//telegram.org/img/emoji/40/F09F938D.png')\">"
            "<b>📍</b></i></tg-emoji><b>Bəyanat</b> <i>rəsmi</i> <u>mətn</u> <code>№12</code>"
            '<br/><blockquote>Sitat</blockquote><a href="?q=%23Qarabağ">#Qarabağ</a>&nbsp;'
            '<a href="https://mfa.gov.az/az/news/1" target="_blank" rel="noopener" '
            "onclick=\"return confirm('Open this link?\\n\\n'+this.href);\">ətraflı</a>"
        ),
    )
    (post,) = parse_preview_page(_page(fake)).posts
    assert post.text == (
        "📍Bəyanat rəsmi mətn №12\nSitat\n#Qarabağ ətraflı (https://mfa.gov.az/az/news/1)"
    )
    assert "<b>Bəyanat</b>" in post.text_html


def test_photo_urls_of_a_photo_and_an_album(fake: FakePreview) -> None:
    """Issue 11: the image URLs a channel with media on sends; a video's preview is no photo."""
    fake.post("AzMFA", "Caption of a photo.", media="photo")
    fake.post("AzMFA", "Caption of a video.", media="video")
    fake.post("AzMFA", "Album caption.", album=3)
    photo, video, album = parse_preview_page(_page(fake)).posts
    cdn = "https://cdn4.telesco.pe/file/"
    assert photo.photos == (f"{cdn}p1.jpg",) and video.photos == ()
    assert album.photos == tuple(f"{cdn}a3_{i}.jpg" for i in range(3))
    assert post_to_item(album, "AzMFA", NOW).photos == album.photos
