"""X API v2 JSON bodies of the fake: post and user objects, ``includes``, ``meta``, errors.

Bodies follow responses recorded against the real API (tweepy's cassettes,
``../shared/corpus/x_api``): ``data``/``includes``/``errors``/``meta``, ids as strings,
``edit_history_tweet_ids`` always present, an empty page as ``{"meta": {"result_count": 0}}``,
missing resources as ``errors`` entries in a 200. Fields appear only when asked for
(``tweet.fields``, ``user.fields``), expansions fill ``includes``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.fakes.x_params import TOKEN_PREFIX, Endpoint, Params, decode_token
from bot.fakes.x_problems import not_found
from bot.fakes.x_world import Link, Tweet, User, XWorld

__all__ = [
    "MENTION",
    "entities_json",
    "envelope",
    "iso",
    "metrics",
    "paginate",
    "rate_headers",
    "tweet_json",
    "user_json",
]

MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{1,15})\b")
_HASHTAG = re.compile(r"(?<![\w#])#(\w+)")


def iso(epoch: float) -> str:
    """An X timestamp: UTC, milliseconds, ``Z`` (``2022-05-02T18:22:55.000Z``)."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


def rate_headers(limit: int, remaining: int, reset: int) -> list[tuple[str, str]]:
    """The ``x-rate-limit-*`` headers every authenticated answer carries."""
    return [
        ("x-access-level", "read"),
        ("x-rate-limit-limit", str(limit)),
        ("x-rate-limit-remaining", str(max(0, remaining))),
        ("x-rate-limit-reset", str(reset)),
    ]


def tweet_json(world: XWorld, tweet: Tweet, fields: frozenset[str]) -> dict[str, Any]:
    """A post object with the fields asked for (``id``, ``text``, ``edit_history_tweet_ids``
    always there)."""
    chain = world.chains[tweet.root]
    out: dict[str, Any] = {
        "edit_history_tweet_ids": [str(i) for i in chain],
        "id": str(tweet.id),
        "text": tweet.text,
    }
    if "author_id" in fields:
        out["author_id"] = tweet.author
    if "created_at" in fields:
        out["created_at"] = iso(tweet.created_at)
    if "conversation_id" in fields:
        out["conversation_id"] = str(tweet.conversation_id)
    if "lang" in fields:
        out["lang"] = tweet.lang
    if "referenced_tweets" in fields and tweet.refs:
        out["referenced_tweets"] = [{"type": k, "id": str(i)} for k, i in tweet.refs]
    if "in_reply_to_user_id" in fields and tweet.in_reply_to_user_id is not None:
        out["in_reply_to_user_id"] = tweet.in_reply_to_user_id
    if "entities" in fields:
        entities = entities_json(world, tweet.text, tweet.links)
        if entities:
            out["entities"] = entities
    if "note_tweet" in fields and tweet.note_text is not None:
        note: dict[str, Any] = {"text": tweet.note_text}
        note_entities = entities_json(world, tweet.note_text, ())
        if note_entities:
            note["entities"] = note_entities
        out["note_tweet"] = note
    if "possibly_sensitive" in fields:
        out["possibly_sensitive"] = False
    if "reply_settings" in fields:
        out["reply_settings"] = "everyone"
    if "edit_controls" in fields:
        first = world.tweets[tweet.root]
        retweet = any(k == "retweeted" for k, _ in tweet.refs)
        out["edit_controls"] = {
            "edits_remaining": max(0, 5 - (len(chain) - 1)),
            "is_edit_eligible": not retweet,
            "editable_until": iso(first.created_at + world.edit_window),
        }
    if "public_metrics" in fields:
        out["public_metrics"] = metrics(world, tweet)
    return out


def metrics(world: XWorld, tweet: Tweet) -> dict[str, int]:
    """``public_metrics``: reposts, replies and quotes counted from the world; the rest 0."""
    counts = {"retweeted": 0, "replied_to": 0, "quoted": 0}
    versions = set(world.chains[tweet.root])
    for other in world.tweets.values():
        if world.current(other):
            for kind, ref in other.refs:
                if ref in versions:
                    counts[kind] += 1
    return {
        "retweet_count": counts["retweeted"],
        "reply_count": counts["replied_to"],
        "like_count": 0,
        "quote_count": counts["quoted"],
        "bookmark_count": 0,
        "impression_count": 0,
    }


def entities_json(world: XWorld, text: str, links: Sequence[Link]) -> dict[str, Any]:
    """``entities``: t.co links, mentions (with ids of known accounts) and hashtags."""
    out: dict[str, Any] = {}
    if links:
        out["urls"] = [
            {
                "start": link.start,
                "end": link.end,
                "url": link.url,
                "expanded_url": link.expanded_url,
                "display_url": link.display_url,
            }
            for link in links
        ]
    mentions = []
    for match in MENTION.finditer(text):
        mention: dict[str, Any] = {
            "start": match.start(),
            "end": match.end(),
            "username": match.group(1),
        }
        known = world.by_name.get(match.group(1).casefold())
        if known is not None:
            mention["id"] = known
        mentions.append(mention)
    if mentions:
        out["mentions"] = mentions
    hashtags = [
        {"start": m.start(), "end": m.end(), "tag": m.group(1)} for m in _HASHTAG.finditer(text)
    ]
    if hashtags:
        out["hashtags"] = hashtags
    return out


def user_json(world: XWorld, user: User, fields: frozenset[str]) -> dict[str, Any]:
    """A user object with the fields asked for (``id``, ``name``, ``username`` always)."""
    out: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
    if "created_at" in fields:
        out["created_at"] = iso(user.created_at)
    if "description" in fields:
        out["description"] = user.description
    if "protected" in fields:
        out["protected"] = user.protected
    if "verified" in fields:
        out["verified"] = user.verified
    if "verified_type" in fields:
        out["verified_type"] = "blue" if user.verified else "none"
    if "profile_image_url" in fields:
        out["profile_image_url"] = (
            "https://abs.twimg.com/sticky/default_profile_images/default_profile_normal.png"
        )
    if "most_recent_tweet_id" in fields:
        latest = world.latest(user.id)
        if latest is not None:
            out["most_recent_tweet_id"] = str(latest.id)
    if "public_metrics" in fields:
        out["public_metrics"] = {
            "followers_count": 0,
            "following_count": 0,
            "tweet_count": sum(1 for _ in world.visible_timeline(user.id)),
            "listed_count": 0,
            "like_count": 0,
            "media_count": 0,
        }
    return out


def envelope(
    world: XWorld,
    data: Sequence[Tweet] | None,
    params: Params,
    errors: list[dict[str, Any]],
    *,
    users: Sequence[User] = (),
) -> dict[str, Any]:
    """``data``, ``includes`` and ``errors`` for posts (or for `users`)."""
    tweet_fields = params.fields("tweet.fields")
    user_fields = params.fields("user.fields")
    expansions = params.fields("expansions")
    body: dict[str, Any] = {}
    inc_users: dict[str, User] = {}
    inc_tweets: dict[int, Tweet] = {}

    def add_user(user_id: str | None) -> None:
        if user_id is not None and user_id in world.users:
            user = world.users[user_id]
            if not user.suspended and not user.deactivated:
                inc_users.setdefault(user_id, user)

    if data is not None:
        for tweet in data:
            if "author_id" in expansions:
                add_user(tweet.author)
            if "in_reply_to_user_id" in expansions:
                add_user(tweet.in_reply_to_user_id)
            if "entities.mentions.username" in expansions:
                for match in MENTION.finditer(tweet.text):
                    add_user(world.by_name.get(match.group(1).casefold()))
            if "edit_history_tweet_ids" in expansions:
                for version in world.chains[tweet.root]:
                    if version != tweet.id:
                        inc_tweets.setdefault(version, world.tweets[version])
            if "referenced_tweets.id" in expansions or (
                "referenced_tweets.id.author_id" in expansions
            ):
                for _kind, ref in tweet.refs:
                    target = world.tweets[ref]
                    if not world.exists(target):
                        errors.append(
                            not_found(
                                "tweet",
                                "referenced_tweets.id",
                                str(ref),
                                f"Could not find tweet with referenced_tweets.id: [{ref}].",
                            )
                        )
                        continue
                    if "referenced_tweets.id" in expansions:
                        inc_tweets.setdefault(ref, target)
                    if "referenced_tweets.id.author_id" in expansions:
                        add_user(target.author)
        if data:
            body["data"] = [tweet_json(world, t, tweet_fields) for t in data]
    else:
        for user in users:
            if "most_recent_tweet_id" in expansions:
                latest = world.latest(user.id)
                if latest is not None:
                    inc_tweets.setdefault(latest.id, latest)
        if users:
            body["data"] = [user_json(world, u, user_fields) for u in users]
    includes: dict[str, Any] = {}
    if inc_users:
        includes["users"] = [user_json(world, u, user_fields) for u in inc_users.values()]
    if inc_tweets:
        includes["tweets"] = [tweet_json(world, t, tweet_fields) for t in inc_tweets.values()]
    if includes:
        body["includes"] = includes
    if errors:
        body["errors"] = errors
    return body


def paginate(
    matching: Sequence[Tweet], size: int, token: str | None, endpoint: Endpoint, name: str
) -> tuple[list[Tweet], dict[str, Any]]:
    """One page of `matching` (newest first) and its ``meta``, from a pagination token."""
    prefix = TOKEN_PREFIX[endpoint]
    if token is None:
        page = list(matching[:size])
    else:
        direction, bound = decode_token(token, prefix, name)
        if direction == "n":
            older = [t for t in matching if t.id < bound]
            page = older[:size]
        else:
            newer = [t for t in matching if t.id > bound]
            page = newer[-size:]
    meta: dict[str, Any] = {"result_count": len(page)}
    if page:
        meta["newest_id"] = str(page[0].id)
        meta["oldest_id"] = str(page[-1].id)
        if any(t.id < page[-1].id for t in matching):
            meta["next_token"] = f"{prefix}n{_base36(page[-1].id)}"
        if token is not None and any(t.id > page[0].id for t in matching):
            meta["previous_token"] = f"{prefix}p{_base36(page[0].id)}"
    return page, meta
