"""Request parameters of the fake X API: which an endpoint takes, and their checks (400s).

The allowed parameters, fields and expansions per endpoint, and the wording of the 400 problems,
follow the real API's answers (tweepy's cassettes, ``../shared/corpus/x_api``): an unknown
parameter, an unknown field or expansion, a value out of range or not matching its pattern each
answer 400 ``invalid-request`` naming the parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from bot.fakes.http import Request
from bot.fakes.x_problems import invalid

__all__ = [
    "ID",
    "ID_PATTERN",
    "TOKEN_PREFIX",
    "USERNAME",
    "USERNAME_PATTERN",
    "Endpoint",
    "Params",
    "decode_token",
    "parse_params",
]


class Endpoint(StrEnum):
    """The endpoints the fake serves, named as X's docs name them."""

    USERS_BY = "GET /2/users/by"
    USERS = "GET /2/users"
    USER_BY_USERNAME = "GET /2/users/by/username/:username"
    USER_TWEETS = "GET /2/users/:id/tweets"
    SEARCH_RECENT = "GET /2/tweets/search/recent"
    TWEETS = "GET /2/tweets"
    TWEET = "GET /2/tweets/:id"


ID = re.compile(r"[0-9]{1,19}")
ID_PATTERN = "^[0-9]{1,19}$"
USERNAME = re.compile(r"[A-Za-z0-9_]{1,15}")
USERNAME_PATTERN = "^[A-Za-z0-9_]{1,15}$"
TOKEN_PREFIX = {
    Endpoint.USER_TWEETS: "7140dibdnow9c7btw",
    Endpoint.SEARCH_RECENT: "b26v89c19zqg8o3f",
}


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_TWEET_FIELDS = _names(
    "attachments author_id card_uri community_id context_annotations conversation_id "
    "created_at display_text_range edit_controls edit_history_tweet_ids entities geo id "
    "in_reply_to_user_id lang media_metadata non_public_metrics note_tweet organic_metrics "
    "possibly_sensitive promoted_metrics public_metrics referenced_tweets reply_settings "
    "scopes source text withheld"
)
_USER_FIELDS = _names(
    "affiliation connection_status created_at description entities id is_identity_verified "
    "location most_recent_tweet_id name parody pinned_tweet_id profile_banner_url "
    "profile_image_url protected public_metrics receives_your_dm subscription "
    "subscription_type url username verified verified_followers_count verified_type "
    "withheld"
)
_TWEET_EXPANSIONS = _names(
    "attachments.media_keys attachments.media_source_tweet attachments.poll_ids author_id "
    "edit_history_tweet_ids entities.mentions.username geo.place_id in_reply_to_user_id "
    "entities.note.mentions.username referenced_tweets.id "
    "referenced_tweets.id.attachments.media_keys referenced_tweets.id.author_id"
)
_USER_EXPANSIONS = frozenset({"affiliation.user_id", "most_recent_tweet_id", "pinned_tweet_id"})
_MEDIA_FIELDS = _names(
    "alt_text duration_ms height media_key non_public_metrics organic_metrics "
    "preview_image_url promoted_metrics public_metrics type url variants width"
)
_POLL_FIELDS = frozenset(["duration_minutes", "end_datetime", "id", "options", "voting_status"])
_PLACE_FIELDS = frozenset(
    ["contained_within", "country", "country_code", "full_name", "geo", "id", "name", "place_type"]
)
_LIST_PARAMS: Mapping[str, frozenset[str]] = {
    "tweet.fields": _TWEET_FIELDS,
    "user.fields": _USER_FIELDS,
    "media.fields": _MEDIA_FIELDS,
    "poll.fields": _POLL_FIELDS,
    "place.fields": _PLACE_FIELDS,
    "exclude": frozenset({"replies", "retweets"}),
}
_TWEET_PARAMS = frozenset(
    {"expansions", "tweet.fields", "user.fields", "media.fields", "poll.fields", "place.fields"}
)
_ALLOWED: Mapping[Endpoint, frozenset[str]] = {
    Endpoint.USERS_BY: frozenset({"usernames", "expansions", "tweet.fields", "user.fields"}),
    Endpoint.USERS: frozenset({"ids", "expansions", "tweet.fields", "user.fields"}),
    Endpoint.USER_BY_USERNAME: frozenset({"expansions", "tweet.fields", "user.fields"}),
    Endpoint.USER_TWEETS: _TWEET_PARAMS
    | _names("max_results pagination_token start_time end_time since_id until_id exclude"),
    Endpoint.SEARCH_RECENT: _TWEET_PARAMS
    | _names("query max_results next_token pagination_token start_time end_time since_id")
    | _names("until_id sort_order"),
    Endpoint.TWEETS: _TWEET_PARAMS | {"ids"},
    Endpoint.TWEET: _TWEET_PARAMS,
}


def decode_token(token: str, prefix: str, name: str) -> tuple[str, int]:
    """A pagination token's direction (``n`` older, ``p`` newer) and bound id; 400 if forged."""
    rest = token[len(prefix) :] if token.startswith(prefix) else ""
    if len(rest) >= 2 and rest[0] in "np":
        try:
            return rest[0], int(rest[1:], 36)
        except ValueError:
            pass
    raise invalid(name, token, f"The `{name}` query parameter value [{token}] is not valid")


@dataclass
class Params:
    """A request's query parameters, read and checked one by one (each bad value answers 400)."""

    values: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def fields(self, name: str) -> frozenset[str]:
        raw = self.values.get(name)
        return frozenset(raw.split(",")) if raw is not None else frozenset()

    def integer(self, name: str, low: int, high: int, default: int) -> int:
        raw = self.values.get(name)
        if raw is None:
            return default
        if not re.fullmatch(r"-?[0-9]+", raw):
            raise invalid(name, raw, f"The `{name}` query parameter value [{raw}] is not a number")
        value = int(raw)
        if not low <= value <= high:
            raise invalid(
                name,
                raw,
                f"The `{name}` query parameter value [{raw}] is not between {low} and {high}",
            )
        return value

    def tweet_id(self, name: str) -> int | None:
        raw = self.values.get(name)
        if raw is None:
            return None
        if ID.fullmatch(raw) is None:
            raise invalid(
                name,
                raw,
                f"The `{name}` query parameter value [{raw}] does not match {ID_PATTERN}",
            )
        return int(raw)

    def time(self, name: str) -> float | None:
        raw = self.values.get(name)
        if raw is None:
            return None
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise invalid(
                name, raw, f"The `{name}` query parameter value [{raw}] is not a valid RFC3339 date"
            )
        return moment.timestamp()

    def id_list(self, name: str, pattern: re.Pattern[str], shown: str) -> list[str]:
        raw = self.values.get(name)
        if raw is None:
            raise invalid(name, "", f"The `{name}` query parameter can not be empty")
        values = raw.split(",")
        if not 1 <= len(values) <= 100:
            raise invalid(
                name,
                raw,
                f"The number of values in the `{name}` query parameter list [{len(values)}] is "
                "not between 1 and 100",
            )
        for value in values:
            if pattern.fullmatch(value) is None:
                raise invalid(
                    name,
                    value,
                    f"The `{name}` query parameter value [{value}] does not match {shown}",
                )
        return values


def parse_params(request: Request, endpoint: Endpoint) -> Params:
    """The request's parameters, checked against what `endpoint` takes (400 otherwise)."""
    allowed = _ALLOWED[endpoint]
    values: dict[str, str] = {}
    for name, given in request.query.items():
        if name not in allowed:
            raise invalid(
                name,
                given[-1] if given else "",
                f"The query parameter [{name}] is not one of [{','.join(sorted(allowed))}]",
            )
        values[name] = given[-1]
    for name, choices in _LIST_PARAMS.items():
        if name in values:
            for item in values[name].split(","):
                if item not in choices:
                    raise invalid(
                        name,
                        item,
                        f"The `{name}` query parameter value [{item}] is not one of "
                        f"[{','.join(sorted(choices))}]",
                    )
    if "expansions" in values:
        choices = (
            _USER_EXPANSIONS
            if endpoint in (Endpoint.USERS_BY, Endpoint.USER_BY_USERNAME)
            else _TWEET_EXPANSIONS
        )
        for item in values["expansions"].split(","):
            if item not in choices:
                raise invalid(
                    "expansions",
                    item,
                    f"The `expansions` query parameter value [{item}] is not one of "
                    f"[{','.join(sorted(choices))}]",
                )
    return Params(values)
