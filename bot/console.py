"""The console sender: alerts printed as the channel would show them, when the operator asks for
console mode (or the demo runs). Kept apart from the Telegram sender so that a command that
sends nothing never imports python-telegram-bot."""

from __future__ import annotations

import html as htmllib
import itertools
import sys
from collections.abc import Sequence
from typing import TextIO

from bot.tghtml import html_to_plain

__all__ = ["ConsoleSender"]


class ConsoleSender:
    """Prints alerts as plain text, when the operator asks for console mode.

    Nothing reaches Telegram: the dispatcher records these alerts as shown, not sent.
    """

    delivers: bool = False

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out
        self._ids = itertools.count(1)

    async def send(
        self,
        channel_id: str,
        chat: str,
        html: str,
        *,
        silent: bool = False,
        reply_to: str | None = None,
        patient: bool = False,
        thread_id: int | None = None,
    ) -> str:
        """Print the message under a header naming the channel (and what it answers)."""
        n = next(self._ids)
        bell = "" if silent else " 🔔"
        answer = f" ↳ reply to {reply_to}" if reply_to else ""
        topic = f" #topic {thread_id}" if thread_id is not None else ""
        self._write(f"── alert {n} → {channel_id} ({chat}){topic}{bell}{answer} ──", html)
        return str(n)

    async def send_photos(
        self,
        channel_id: str,
        chat: str,
        photos: Sequence[str],
        caption: str,
        *,
        silent: bool = False,
        reply_to: str | None = None,
        patient: bool = False,
        thread_id: int | None = None,
    ) -> str:
        """Print the caption with the photos' links under it."""
        links = "\n".join(f"[photo] {htmllib.escape(url)}" for url in photos)
        return await self.send(
            channel_id,
            chat,
            f"{caption}\n{links}",
            silent=silent,
            reply_to=reply_to,
            thread_id=thread_id,
        )

    async def edit(self, channel_id: str, chat: str, message_id: str, html: str) -> None:
        """Print the new version of an earlier alert."""
        self._write(f"── alert {message_id} → {channel_id} ({chat}), updated ──", html)

    def _write(self, header: str, html: str) -> None:
        out = self._out or sys.stdout
        out.write(f"\n{header}\n{html_to_plain(html)}\n")
        out.flush()
