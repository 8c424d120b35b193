"""`watchpost demo` end to end: the bundled scenario through the fakes and the real worker."""

from __future__ import annotations

import io
import re

from bot.demo import run_demo


async def test_demo_delivers_the_scenario() -> None:
    out = io.StringIO()
    assert await run_demo(speed=2.0, out=out) == 0
    text = out.getvalue()
    last = text.strip().splitlines()[-1]
    m = re.fullmatch(
        r"demo: (\d+) statements, (\d+) alerts delivered, (\d+) duplicates suppressed", last
    )
    assert m, last
    statements, alerts, duplicates = map(int, m.groups())
    # duplicates: X's recent search shows no reposts (issue 8), so the scenario's repost is unseen
    assert statements >= 12 and alerts >= 18 and duplicates >= 2
    assert "Venezuela" not in text  # the irrelevant item alerts nobody
    assert "↩️ In reply to @HikmetHajiyev" in text
    assert "💬 Quoting @HikmetHajiyev" in text
    assert "✏️ Edited by" in text and "{+and Martuni+}" in text
    assert "🗑 Deleted by" in text
    assert "📢 Also published by Ministry of Foreign Affairs of Russia on X" in text
    assert "⚖️ On the other side:" in text
    for script in ("Արցախ", "Qarabağda", "Карабахе", "Karabağ"):
        assert script in text
    # The ministry's Telegram channel (issue 10): a photo, a reply, a forward, an edit, a deletion.
    assert "🔗 https://t.me/AzerbaijanMFA/" in text
    assert "Photo\n\nTərtər rayonunda" in text
    assert "↩️ In reply to @AzerbaijanMFA" in text
    assert "📢 Also published by Ministry of Foreign Affairs of Azerbaijan on Telegram" in text
    assert "{+ağır artilleriyadan+}" in text
    assert "🗑 Deleted by Ministry of Foreign Affairs of Azerbaijan about 30 minutes" in text
    assert "✏️ Edited by Ministry of Foreign Affairs of Azerbaijan, 35 minutes after" in text
