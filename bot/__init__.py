"""Watchpost: watches official voices in an armed conflict and alerts Telegram channels."""
