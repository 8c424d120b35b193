"""The fake X API's problem bodies: RFC 7807 answers and ``errors`` entries as X sends them.

Shapes from responses recorded against the real API (``../shared/corpus/x_api``) and from public
reports of the ones not recorded there (protected accounts: tweepy issue 2070).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "INVALID_DETAIL",
    "PROBLEMS",
    "REASONS",
    "Answer",
    "blank_problem",
    "invalid",
    "not_authorized",
    "not_found",
    "suspended",
]

PROBLEMS = "https://api.twitter.com/2/problems/"
INVALID_DETAIL = "One or more parameters to your request was invalid."
REASONS: Mapping[int, str] = {
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class Answer(Exception):
    """A complete non-200 answer, raised from deep inside a handler."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def invalid(parameter: str, value: str, message: str) -> Answer:
    return Answer(
        400,
        {
            "errors": [{"parameters": {parameter: [value]}, "message": message}],
            "title": "Invalid Request",
            "detail": INVALID_DETAIL,
            "type": PROBLEMS + "invalid-request",
        },
    )


def blank_problem(status: int) -> dict[str, Any]:
    reason = REASONS.get(status, "Error")
    return {"title": reason, "detail": reason, "type": "about:blank", "status": status}


def not_found(kind: str, parameter: str, value: str, detail: str | None = None) -> dict[str, Any]:
    return {
        "value": value,
        "detail": detail or f"Could not find {kind} with {parameter}: [{value}].",
        "title": "Not Found Error",
        "resource_type": kind,
        "parameter": parameter,
        "resource_id": value,
        "type": PROBLEMS + "resource-not-found",
    }


def suspended(parameter: str, value: str) -> dict[str, Any]:
    return {
        "value": value,
        "detail": f"User has been suspended: [{value}].",
        "title": "Forbidden",
        "resource_type": "user",
        "parameter": parameter,
        "resource_id": value,
        "type": PROBLEMS + "resource-not-found",
    }


def not_authorized(kind: str, parameter: str, value: str) -> dict[str, Any]:
    # The body X sends for a protected account to an app-only token (tweepy issue 2070).
    noun = "user with id" if kind == "user" else "Tweet with ids"
    return {
        "value": value,
        "detail": f"Sorry, you are not authorized to see the {noun}: [{value}].",
        "title": "Authorization Error",
        "resource_type": kind.lower() if kind == "user" else "tweet",
        "parameter": parameter,
        "resource_id": value,
        "section": "data",
        "type": PROBLEMS + "not-authorized-for-resource",
    }
