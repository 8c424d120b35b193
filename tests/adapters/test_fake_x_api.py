"""The fake X API v2 and the session redirect, driven by the real tweepy Client (sync)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import tweepy
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.fakes.http import Headers, LocalServer, Request
from bot.fakes.x_api import DEFAULT_RATE_LIMITS, Endpoint, FakeX
from bot.x.session import OFFICIAL_API_URL, make_x_session

TOKEN = "test-bearer-token"
START = datetime(2025, 3, 10, 12, 0, tzinfo=UTC).timestamp()
CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "x_api"
DECODED = CORPUS / "tweepy" / "decoded"
NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"
TWEET_FIELDS = [
    "created_at",
    "lang",
    "author_id",
    "conversation_id",
    "referenced_tweets",
    "entities",
    "edit_history_tweet_ids",
    "note_tweet",
    "in_reply_to_user_id",
]


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RefuseHttps(requests.adapters.BaseAdapter):
    """Fails the test if anything tries to leave for an https host (the real API is one)."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        pytest.fail(f"request escaped to {request.url}")

    def close(self) -> None:
        pass


class Recorder(requests.adapters.BaseAdapter):
    """Answers every request with an empty 200 and remembers the URL and send arguments."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        self.seen.append((str(request.url), kwargs))
        response = requests.Response()
        response.status_code = 200
        response._content = b'{"data": {"id": "1", "name": "n", "username": "u"}}'
        response.url = str(request.url)
        response.request = request
        return response

    def close(self) -> None:
        pass


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakeX:
    x = FakeX(tokens={TOKEN}, clock=clock)
    x.add_user("MFA_Example", name="Ministry of Foreign Affairs", id="1001")
    x.add_user("PM_Example", name="Prime Minister", id="1002")
    x.add_user("Defence_Example", name="Ministry of Defence", id="1003")
    return x


@pytest.fixture
def server(fake: FakeX) -> Iterator[LocalServer]:
    with LocalServer(fake.handle) as running:
        yield running


def _client(server: LocalServer, token: str = TOKEN) -> tweepy.Client:
    client = tweepy.Client(bearer_token=token, wait_on_rate_limit=False)
    client.session = make_x_session(server.url, timeout=5)
    client.session.mount("https://", RefuseHttps())
    return client


@pytest.fixture
def client(server: LocalServer) -> tweepy.Client:
    return _client(server)


def _raw(server: LocalServer, path: str, token: str = TOKEN, **params: str) -> requests.Response:
    with requests.Session() as session:
        return session.get(
            f"{server.url}{path}",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )


# --- the session redirect ------------------------------------------------------------------


def test_nothing_reaches_the_official_host(client: tweepy.Client, fake: FakeX) -> None:
    response = client.get_user(username="MFA_Example")
    assert response.data.id == 1001
    assert fake.requests() == 1
    assert fake.calls()[0].target == "/2/users/by/username/MFA_Example"


def test_official_base_url_means_no_rewrite_and_a_default_timeout() -> None:
    session = make_x_session(OFFICIAL_API_URL + "/", timeout=7.5)
    recorder = Recorder()
    session.mount("https://", recorder)
    client = tweepy.Client(bearer_token=TOKEN)
    client.session = session
    client.get_user(username="someone")
    url, kwargs = recorder.seen[0]
    assert url == "https://api.twitter.com/2/users/by/username/someone"
    assert kwargs["timeout"] == 7.5


def test_a_path_prefix_and_the_query_are_kept() -> None:
    session = make_x_session("http://relay.example/x/", timeout=2)
    recorder = Recorder()
    session.mount("http://", recorder)
    session.mount("https://", RefuseHttps())
    session.get("https://api.twitter.com/2/users/by", params={"usernames": "a,b"})
    session.get("https://api.twitter.com/2/x", timeout=(1, 3))
    assert [u for u, _ in recorder.seen] == [
        "http://relay.example/x/2/users/by?usernames=a%2Cb",
        "http://relay.example/x/2/x",
    ]
    assert [k["timeout"] for _, k in recorder.seen] == [2, (1, 3)]


def test_other_hosts_are_left_alone() -> None:
    session = make_x_session("http://127.0.0.1:9", timeout=2)
    recorder = Recorder()
    session.mount("https://", recorder)
    session.get("https://upload.twitter.com/1.1/media/upload.json")
    session.get("https://api.twitter.com.evil.example/2/users")
    assert [u for u, _ in recorder.seen] == [
        "https://upload.twitter.com/1.1/media/upload.json",
        "https://api.twitter.com.evil.example/2/users",
    ]


def test_a_hung_server_times_out_instead_of_hanging(fake: FakeX) -> None:
    with LocalServer(fake.handle, latency=1.0) as slow:
        client = tweepy.Client(bearer_token=TOKEN)
        client.session = make_x_session(slow.url, timeout=0.1)
        with pytest.raises(requests.exceptions.ReadTimeout):
            client.get_user(username="MFA_Example")


@pytest.mark.parametrize(
    ("base_url", "timeout"),
    [
        ("127.0.0.1:8080", 1.0),  # no scheme
        ("ftp://127.0.0.1", 1.0),  # not http(s)
        ("http://127.0.0.1/?a=1", 1.0),  # a query would be lost
        ("http://127.0.0.1", 0.0),  # a zero timeout never waits
        ("http://127.0.0.1", -1.0),
    ],
)
def test_make_x_session_rejects_bad_settings(base_url: str, timeout: float) -> None:
    with pytest.raises(ValueError):
        make_x_session(base_url, timeout=timeout)


# --- user lookup ---------------------------------------------------------------------------


def test_users_by_usernames_reports_unknown_ones_as_errors(client: tweepy.Client) -> None:
    response = client.get_users(usernames=["mfa_example", "nobody_here", "PM_Example"])
    assert [(u.id, u.username, u.name) for u in response.data] == [
        (1001, "MFA_Example", "Ministry of Foreign Affairs"),
        (1002, "PM_Example", "Prime Minister"),
    ]
    assert response.errors == [
        {
            "value": "nobody_here",
            "detail": "Could not find user with usernames: [nobody_here].",
            "title": "Not Found Error",
            "resource_type": "user",
            "parameter": "usernames",
            "resource_id": "nobody_here",
            "type": NOT_FOUND,
        }
    ]


def test_a_single_unknown_username_has_only_errors(client: tweepy.Client) -> None:
    response = client.get_user(username="nobody_here")
    assert response.data is None
    assert response.errors[0]["detail"] == "Could not find user with username: [nobody_here]."
    assert response.errors[0]["parameter"] == "username"


def test_suspended_accounts_answer_forbidden_entries(client: tweepy.Client, fake: FakeX) -> None:
    fake.suspend("PM_Example")
    response = client.get_user(username="PM_Example")
    assert response.data is None
    assert response.errors[0]["title"] == "Forbidden"
    assert response.errors[0]["detail"] == "User has been suspended: [PM_Example]."


def test_user_fields_are_given_only_when_asked(client: tweepy.Client, fake: FakeX) -> None:
    fake.post("MFA_Example", "first")
    latest = fake.post("MFA_Example", "second")
    plain = client.get_user(username="MFA_Example").data
    assert set(plain.data) == {"id", "name", "username"}
    rich = client.get_user(
        username="MFA_Example", user_fields=["created_at", "most_recent_tweet_id", "verified"]
    ).data
    assert rich.data["most_recent_tweet_id"] == latest
    assert rich.verified is False
    assert rich.created_at is not None


def test_an_invalid_username_is_a_bad_request(client: tweepy.Client) -> None:
    with pytest.raises(tweepy.BadRequest) as caught:
        client.get_users(usernames=["not-valid"])
    body = caught.value.response.json()
    assert body["title"] == "Invalid Request"
    assert body["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert caught.value.api_messages == [
        "The `usernames` query parameter value [not-valid] does not match ^[A-Za-z0-9_]{1,15}$"
    ]


# --- the user timeline ---------------------------------------------------------------------


def test_timeline_since_id_and_pagination(client: tweepy.Client, fake: FakeX, clock: Clock) -> None:
    ids = []
    for n in range(12):
        clock.now += 60
        ids.append(fake.post("MFA_Example", f"statement {n}"))
    fake.post("PM_Example", "not in this timeline")
    assert ids == sorted(ids, key=int)

    first = client.get_users_tweets(1001, max_results=5, since_id=ids[1])
    assert [t.id for t in first.data] == [int(i) for i in reversed(ids[7:])]
    assert first.meta["result_count"] == 5
    assert first.meta["newest_id"] == ids[-1]
    assert first.meta["oldest_id"] == ids[7]

    pages = list(tweepy.Paginator(client.get_users_tweets, 1001, max_results=5, since_id=ids[1]))
    seen = [t.id for page in pages for t in page.data]
    assert seen == [int(i) for i in reversed(ids[2:])]
    assert "next_token" not in pages[-1].meta
    assert all(set(t.data) == {"id", "text", "edit_history_tweet_ids"} for t in first.data)


def test_timeline_until_id_exclude_and_empty_page(client: tweepy.Client, fake: FakeX) -> None:
    own = fake.post("MFA_Example", "own words")
    other = fake.post("PM_Example", "the PM speaks")
    fake.post("MFA_Example", "", repost_of=other)
    fake.post("MFA_Example", "@PM_Example agreed", reply_to=other)
    last = fake.post("MFA_Example", "more")
    kept = client.get_users_tweets(1001, exclude=["retweets", "replies"], until_id=last)
    assert [t.id for t in kept.data] == [int(own)]
    empty = client.get_users_tweets(1001, since_id=last)
    assert empty.data is None
    assert empty.meta == {"result_count": 0}


def test_timeline_of_an_unknown_user_is_an_error_entry(client: tweepy.Client) -> None:
    response = client.get_users_tweets(999)
    assert response.data is None
    assert response.errors[0]["detail"] == "Could not find user with id: [999]."


@pytest.mark.parametrize("max_results", [4, 101])
def test_timeline_max_results_is_bounded(client: tweepy.Client, max_results: int) -> None:
    with pytest.raises(tweepy.BadRequest) as caught:
        client.get_users_tweets(1001, max_results=max_results)
    assert caught.value.api_messages == [
        f"The `max_results` query parameter value [{max_results}] is not between 5 and 100"
    ]


def test_a_forged_pagination_token_is_a_bad_request(client: tweepy.Client) -> None:
    with pytest.raises(tweepy.BadRequest):
        client.get_users_tweets(1001, pagination_token="not-a-token")


# --- recent search -------------------------------------------------------------------------


def test_batched_search_by_authors(client: tweepy.Client, fake: FakeX, clock: Clock) -> None:
    mfa = fake.post("MFA_Example", "ceasefire talks")
    fake.post("PM_Example", "we speak too")
    clock.now += 1
    mod = fake.post("Defence_Example", "front line report")
    rt = fake.post("Defence_Example", "", repost_of=mfa)
    response = client.search_recent_tweets(
        "(from:mfa_example OR from:Defence_Example) -is:retweet",
        tweet_fields=["author_id"],
    )
    assert [(t.id, t.author_id) for t in response.data] == [(int(mod), 1003), (int(mfa), 1001)]
    assert response.meta == {
        "result_count": 2,
        "newest_id": mod,
        "oldest_id": mfa,
    }
    # issue 8: recent search returns no reposts today; the timeline does
    plain = client.search_recent_tweets("from:Defence_Example OR from:MFA_Example")
    assert [t.id for t in plain.data] == [int(mod), int(mfa)]
    timeline = client.get_users_tweets(1003)
    assert [t.id for t in timeline.data] == [int(rt), int(mod)]
    assert timeline.data[0].text == "RT @MFA_Example: ceasefire talks"
    newer = client.search_recent_tweets("from:Defence_Example", since_id=mod)
    assert newer.data is None


def test_search_paginates_with_next_token(client: tweepy.Client, fake: FakeX) -> None:
    ids = [fake.post("PM_Example", f"n{n}") for n in range(25)]
    pages = list(tweepy.Paginator(client.search_recent_tweets, "from:PM_Example", max_results=10))
    assert [len(p.data) for p in pages] == [10, 10, 5]
    assert [t.id for p in pages for t in p.data] == [int(i) for i in reversed(ids)]
    assert "previous_token" not in pages[1].meta


def test_search_only_reaches_back_seven_days(
    client: tweepy.Client, fake: FakeX, clock: Clock
) -> None:
    old = fake.post("PM_Example", "old news")
    clock.now += 8 * 86400
    new = fake.post("PM_Example", "fresh")
    response = client.search_recent_tweets("from:PM_Example")
    assert [t.id for t in response.data] == [int(new)]
    with pytest.raises(tweepy.BadRequest) as caught:
        client.search_recent_tweets("from:PM_Example", since_id=old)
    assert "since_id" in caught.value.api_messages[0]


def test_search_query_length_limit(client: tweepy.Client) -> None:
    terms = " OR ".join(f"from:user_{n:04d}" for n in range(28))
    at_limit = f"({terms}{' ' * (510 - len(terms))})"
    assert len(at_limit) == 512
    assert client.search_recent_tweets(at_limit).meta == {"result_count": 0}
    over = at_limit[:-1] + " )"
    with pytest.raises(tweepy.BadRequest) as caught:
        client.search_recent_tweets(over)
    assert caught.value.response.json()["errors"][0]["parameters"] == {"query": [over]}


def test_the_query_length_limit_is_a_setting(server: LocalServer, clock: Clock) -> None:
    fake = FakeX(tokens={TOKEN}, clock=clock, query_length=20)
    fake.add_user("PM_Example")
    request = Request(
        "GET",
        "/2/tweets/search/recent",
        {"query": ["from:PM_Example OR from:x"]},
        Headers([("Authorization", f"Bearer {TOKEN}")]),
    )
    assert fake.handle(request).status == 400


@pytest.mark.parametrize(
    "query",
    [
        "from:a OR",  # dangling OR
        "(from:a OR from:b",  # unclosed group
        "-is:retweet",  # only negations
        "url:example.com",  # an operator the fake does not know
        "from:not-a-handle",
    ],
)
def test_bad_queries_are_bad_requests(client: tweepy.Client, query: str) -> None:
    with pytest.raises(tweepy.BadRequest) as caught:
        client.search_recent_tweets(query)
    assert caught.value.api_messages[0].startswith("There were errors processing your query")


@pytest.mark.parametrize("max_results", [9, 101])
def test_search_max_results_is_bounded(client: tweepy.Client, max_results: int) -> None:
    with pytest.raises(tweepy.BadRequest):
        client.search_recent_tweets("from:PM_Example", max_results=max_results)


def _search_ids(fake: FakeX, query: str) -> set[str]:
    request = Request(
        "GET",
        "/2/tweets/search/recent",
        {"query": [query], "max_results": ["100"]},
        Headers([("Authorization", f"Bearer {TOKEN}")]),
    )
    response = fake.handle(request)
    assert response.status == 200, response.body
    return {t["id"] for t in json.loads(response.body).get("data", [])}


@settings(max_examples=40, deadline=None)
@given(
    authors=st.lists(st.sampled_from(["a_one", "B_two", "c_3", "d_four"]), min_size=1, max_size=4),
    spaced=st.booleans(),
)
def test_search_or_of_from_terms_returns_exactly_those_authors(
    authors: list[str], spaced: bool
) -> None:
    fake = FakeX(tokens={TOKEN}, clock=Clock())
    posts: dict[str, set[str]] = {}
    for name in ["a_one", "B_two", "c_3", "d_four"]:
        fake.add_user(name)
        posts[name] = {fake.post(name, f"{name} {n}") for n in range(3)}
    terms = " OR ".join(f"from:{a.swapcase()}" for a in authors)
    query = f"( {terms} )" if spaced else f"({terms})"
    assert _search_ids(fake, query) == set().union(*(posts[a] for a in authors))


# --- expansions, edits, deletions ----------------------------------------------------------


def test_expansions_for_replies_quotes_and_reposts(client: tweepy.Client, fake: FakeX) -> None:
    root = fake.post("PM_Example", "The corridor stays open.")
    reply = fake.post("MFA_Example", "@PM_Example Confirmed.", reply_to=root)
    quote = fake.post("Defence_Example", "Our units comply.", quote_of=root)
    repost = fake.post("MFA_Example", "", repost_of=root)
    response = client.get_tweets(
        [reply, quote, repost],
        tweet_fields=TWEET_FIELDS,
        expansions=["author_id", "referenced_tweets.id", "referenced_tweets.id.author_id"],
    )
    by_id = {str(t.id): t for t in response.data}
    assert by_id[reply].referenced_tweets[0].type == "replied_to"
    assert by_id[reply].in_reply_to_user_id == 1002
    assert by_id[reply].conversation_id == int(root)
    assert by_id[quote].referenced_tweets[0].data == {"type": "quoted", "id": root}
    assert by_id[repost].referenced_tweets[0].type == "retweeted"
    assert by_id[reply].entities["mentions"] == [
        {"start": 0, "end": 11, "username": "PM_Example", "id": "1002"}
    ]
    assert [t.id for t in response.includes["tweets"]] == [int(root)]
    assert response.includes["tweets"][0].text == "The corridor stays open."
    assert {u.username for u in response.includes["users"]} == {
        "MFA_Example",
        "Defence_Example",
        "PM_Example",
    }
    assert response.errors == []


def test_edits_make_new_ids_with_the_whole_history(
    client: tweepy.Client, fake: FakeX, clock: Clock
) -> None:
    first = fake.post("MFA_Example", "Talks on Monday.")
    clock.now += 120
    second = fake.edit(first, "Talks on Tuesday.")
    third = fake.edit(second, "Talks on Wednesday.")
    assert int(first) < int(second) < int(third)
    with pytest.raises(ValueError):
        fake.edit(first, "only the latest version can be edited")
    timeline = client.get_users_tweets(1001, since_id=first)
    assert [t.text for t in timeline.data] == ["Talks on Wednesday."]
    assert timeline.data[0].edit_history_tweet_ids == [int(first), int(second), int(third)]
    old = client.get_tweet(first, tweet_fields=["created_at", "edit_controls"]).data
    assert old.text == "Talks on Monday."
    assert old.edit_history_tweet_ids == [int(first), int(second), int(third)]
    assert old.edit_controls["edits_remaining"] == 3
    assert old.created_at == datetime.fromtimestamp(START, UTC)


def test_deleted_posts_come_back_as_lookup_errors(client: tweepy.Client, fake: FakeX) -> None:
    kept = fake.post("PM_Example", "still here")
    gone = fake.post("PM_Example", "regrettable")
    quoting = fake.post("MFA_Example", "see this", quote_of=gone)
    edited = fake.edit(gone, "regrettable, edited")
    fake.delete(edited)
    response = client.get_tweets([kept, gone, edited, quoting], expansions=["referenced_tweets.id"])
    assert [t.id for t in response.data] == [int(kept), int(quoting)]
    assert [(e["resource_id"], e["parameter"]) for e in response.errors] == [
        (gone, "ids"),
        (edited, "ids"),
        (gone, "referenced_tweets.id"),
    ]
    assert response.errors[0] == {
        "value": gone,
        "detail": f"Could not find tweet with ids: [{gone}].",
        "title": "Not Found Error",
        "resource_type": "tweet",
        "parameter": "ids",
        "resource_id": gone,
        "type": NOT_FOUND,
    }
    single = client.get_tweet(gone)
    assert single.data is None
    assert single.errors[0]["detail"] == f"Could not find tweet with id: [{gone}]."
    assert [t.id for t in client.get_users_tweets(1002).data] == [int(kept)]


def test_urls_and_long_posts(client: tweepy.Client, fake: FakeX) -> None:
    long_text = "Full statement. " * 40
    tweet_id = fake.post(
        "MFA_Example",
        "Read https://mfa.example/statements/2025/03/10/corridor-agreement in full",
        urls=["https://www.example.org/"],
        note_text=long_text,
    )
    tweet = client.get_tweet(tweet_id, tweet_fields=["entities", "note_tweet"]).data
    urls = tweet.entities["urls"]
    assert [(u["expanded_url"], u["display_url"]) for u in urls] == [
        (
            "https://mfa.example/statements/2025/03/10/corridor-agreement",
            "mfa.example/statements/202…",
        ),
        ("https://www.example.org/", "example.org"),
    ]
    for u in urls:
        assert tweet.text[u["start"] : u["end"]] == u["url"]
        assert u["url"].startswith("https://t.co/")
    assert "mfa.example" not in tweet.text
    assert tweet.data["note_tweet"]["text"] == long_text
    plain = client.get_tweet(tweet_id).data
    assert set(plain.data) == {"id", "text", "edit_history_tweet_ids"}


# --- auth, rate limits, failures, counters -------------------------------------------------


def test_a_wrong_token_is_unauthorized(server: LocalServer, fake: FakeX) -> None:
    client = _client(server, token="wrong")
    with pytest.raises(tweepy.Unauthorized) as caught:
        client.get_user(username="MFA_Example")
    assert caught.value.response.json() == {
        "title": "Unauthorized",
        "type": "about:blank",
        "status": 401,
        "detail": "Unauthorized",
    }
    assert "x-rate-limit-limit" not in caught.value.response.headers


def test_forbid_answers_client_forbidden(client: tweepy.Client, fake: FakeX) -> None:
    fake.forbid()
    with pytest.raises(tweepy.Forbidden) as caught:
        client.get_users_tweets(1001)
    body = caught.value.response.json()
    assert body["type"] == "https://api.twitter.com/2/problems/client-forbidden"
    assert body["reason"] == "client-not-enrolled"
    fake.forbid(False)
    assert client.get_users_tweets(1001).meta == {"result_count": 0}


def test_rate_limit_headers_exhaustion_and_reset(server: LocalServer, clock: Clock) -> None:
    fake = FakeX(tokens={TOKEN}, clock=clock, rate_limits={Endpoint.USER_TWEETS: 3})
    fake.add_user("MFA_Example", id="1001")
    with LocalServer(fake.handle) as small:
        client = _client(small)
        client.return_type = requests.Response
        reset = str(int(START) + 900)
        remaining = [client.get_users_tweets(1001).headers for _ in range(3)]
        assert [h["x-rate-limit-remaining"] for h in remaining] == ["2", "1", "0"]
        assert {h["x-rate-limit-limit"] for h in remaining} == {"3"}
        assert {h["x-rate-limit-reset"] for h in remaining} == {reset}
        with pytest.raises(tweepy.TooManyRequests) as caught:
            client.get_users_tweets(1001)
        assert caught.value.response.headers["x-rate-limit-reset"] == reset
        assert caught.value.response.json() == {
            "title": "Too Many Requests",
            "detail": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
        }
        # Another endpoint has its own window.
        assert client.get_user(username="MFA_Example").headers["x-rate-limit-limit"] == "300"
        clock.now += 900
        assert client.get_users_tweets(1001).headers["x-rate-limit-remaining"] == "2"
    assert fake.requests(Endpoint.USER_TWEETS) == 5


def test_default_limits_are_the_recorded_ones() -> None:
    recorded = {
        "test_client_get_users_tweets/01_GET_2_users_783214_tweets.json": Endpoint.USER_TWEETS,
        "test_client_search_recent_tweets/01_GET_2_tweets_search_recent.json": (
            Endpoint.SEARCH_RECENT
        ),
        "test_client_get_users/01_GET_2_users_by.json": Endpoint.USERS_BY,
        "test_client_get_tweets/01_GET_2_tweets.json": Endpoint.TWEETS,
    }
    if not DECODED.is_dir():
        pytest.skip("corpus not present")
    for name, endpoint in recorded.items():
        headers = json.loads((DECODED / name).read_text())["response"]["headers"]
        assert DEFAULT_RATE_LIMITS[endpoint] == int(headers["x-rate-limit-limit"])


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, tweepy.TwitterServerError),
        (503, tweepy.TwitterServerError),
        (429, tweepy.TooManyRequests),
    ],
)
def test_injected_failures(
    client: tweepy.Client, fake: FakeX, status: int, error: type[tweepy.HTTPException]
) -> None:
    fake.fail_next(2, status, endpoint=Endpoint.SEARCH_RECENT, reset_after=30)
    assert client.get_user(username="PM_Example").data.id == 1002  # another endpoint
    for _ in range(2):
        with pytest.raises(error) as caught:
            client.search_recent_tweets("from:PM_Example")
        assert caught.value.response.json()["status"] == status
        assert "x-rate-limit-reset" in caught.value.response.headers
    if status == 429:
        assert isinstance(caught.value, tweepy.TooManyRequests)
        assert caught.value.reset_time == int(START) + 30
    assert client.search_recent_tweets("from:PM_Example").meta == {"result_count": 0}


def test_monthly_read_cap(client: tweepy.Client, fake: FakeX, clock: Clock) -> None:
    for n in range(3):
        fake.post("PM_Example", f"p{n}")
    fake.set_read_cap(4)
    assert len(client.get_users_tweets(1002).data) == 3
    assert len(client.get_users_tweets(1002, max_results=5).data) == 3  # 6 read: over the cap
    with pytest.raises(tweepy.TooManyRequests) as caught:
        client.search_recent_tweets("from:PM_Example")
    body = caught.value.response.json()
    assert body["type"] == "https://api.twitter.com/2/problems/usage-capped"
    assert (body["title"], body["period"], body["scope"]) == (
        "UsageCapExceeded",
        "Monthly",
        "Product",
    )
    assert client.get_user(username="PM_Example").data is not None  # user lookups still work
    clock.now = datetime(2025, 4, 1, tzinfo=UTC).timestamp()
    assert len(client.get_users_tweets(1002).data) == 3
    assert fake.posts_read() == 9


def test_counters_and_log(client: tweepy.Client, fake: FakeX) -> None:
    a = fake.post("PM_Example", "one")
    b = fake.post("PM_Example", "two")
    client.get_tweets([a, b, "123"], expansions=["author_id"])
    client.get_users(usernames=["PM_Example"])
    with pytest.raises(tweepy.BadRequest):
        client.get_tweets(["x"])
    assert fake.requests() == 3
    assert fake.requests(Endpoint.TWEETS) == 2
    assert fake.posts_read() == 2
    assert [(c.endpoint, c.status, c.posts) for c in fake.calls()] == [
        (Endpoint.TWEETS, 200, 2),
        (Endpoint.USERS_BY, 200, 0),
        (Endpoint.TWEETS, 400, 0),
    ]


def test_unknown_parameters_and_routes(server: LocalServer) -> None:
    unknown = _raw(server, "/2/users/1001/tweets", bogus="1")
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["message"].startswith("The query parameter [bogus]")
    bad_field = _raw(server, "/2/tweets", ids="1", **{"tweet.fields": "user"})
    assert bad_field.json()["errors"][0]["message"].startswith(
        "The `tweet.fields` query parameter value [user] is not one of ["
    )
    assert _raw(server, "/2/spaces/search").status_code == 404
    assert _raw(server, "/2/users/by", token="nope", usernames="a").status_code == 401


def test_concurrent_requests_are_all_counted(server: LocalServer, fake: FakeX) -> None:
    def work() -> None:
        client = _client(server)
        for _ in range(15):
            client.get_user(username="MFA_Example")

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake.requests(Endpoint.USER_BY_USERNAME) == 90
    last = _raw(server, "/2/users/by/username/MFA_Example")
    assert last.headers["x-rate-limit-remaining"] == str(300 - 91)


# --- the recorded shapes -------------------------------------------------------------------


def _shape(body: Mapping[str, Any]) -> dict[str, Any]:
    data = body.get("data")
    items = data if isinstance(data, list) else [data] if data else []
    return {
        "top": sorted(body),
        "item": sorted({k for item in items for k in item}),
        "meta": sorted(body.get("meta", {})),
    }


@pytest.mark.corpus
@pytest.mark.parametrize(
    "recording",
    [
        "test_client_get_users_tweets/01_GET_2_users_783214_tweets.json",
        "test_client_search_recent_tweets/01_GET_2_tweets_search_recent.json",
        "test_client_get_user/01_GET_2_users_by_username_Twitter.json",
        "test_client_get_users/01_GET_2_users_by.json",
        "test_client_get_tweets/01_GET_2_tweets.json",
        "test_client_get_tweet/01_GET_2_tweets_1293593516040269825.json",
    ],
)
def test_answers_have_the_recorded_shapes(server: LocalServer, recording: str) -> None:
    path = DECODED / recording
    if not path.is_file():
        pytest.skip("corpus not present")
    recorded = json.loads(path.read_text())
    fake = FakeX(tokens={TOKEN}, clock=Clock())
    fake.add_user("Twitter", name="Twitter", id="783214")
    fake.add_user("TwitterDev", name="Twitter Dev", id="2244994945")
    ids = [fake.post("Twitter", f"post {n}") for n in range(12)]
    for n in range(12):
        fake.post("TwitterDev", f"Tweepy {n}")
    query = dict(recorded["request"]["query"])
    target = recorded["request"]["path"]
    if target.startswith("/2/tweets/1"):
        target = f"/2/tweets/{ids[0]}"
    if "ids" in query:
        query["ids"] = f"{ids[0]},{ids[1]}"
    if "query" in query:
        query["query"] = "tweepy"
    if target.endswith("/tweets") and "users" in target:
        query["max_results"] = "5"
    request = Request(
        "GET",
        target,
        {k: [v] for k, v in query.items()},
        Headers([("Authorization", f"Bearer {TOKEN}")]),
    )
    response = fake.handle(request)
    assert response.status == recorded["response"]["status"]
    assert _shape(json.loads(response.body)) == _shape(recorded["response"]["json"])
    names = {k.lower() for k, _ in response.header_pairs()}
    assert {h for h in recorded["response"]["headers"] if h.startswith("x-rate-limit")} <= names


def test_rename_frees_the_handle_and_ids_stay(client: tweepy.Client, fake: FakeX) -> None:
    """Issue 8: a renamed account keeps its id; its old handle can be registered again."""
    fake.rename("MFA_Example", "MFA_Renamed")
    newcomer = fake.add_user("MFA_Example", name="Someone else")
    assert newcomer != "1001"
    by_id = client.get_users(ids=["1001", newcomer], user_fields=["protected"])
    assert [(u.id, u.username) for u in by_id.data] == [
        (1001, "MFA_Renamed"),
        (int(newcomer), "MFA_Example"),
    ]
    mine = fake.post("MFA_Renamed", "still the ministry")
    fake.post("MFA_Example", "not the ministry")
    found = client.search_recent_tweets("from:1001", tweet_fields=["author_id"])
    assert [t.id for t in found.data] == [int(mine)]


def test_suspended_protected_and_deactivated_accounts(client: tweepy.Client, fake: FakeX) -> None:
    post = fake.post("PM_Example", "hello")
    fake.protect("PM_Example")
    timeline = client.get_users_tweets(1002)
    assert timeline.data is None
    (err,) = timeline.errors
    assert err["type"].endswith("/not-authorized-for-resource")
    assert client.get_users(ids=["1002"], user_fields=["protected"]).data[0].protected is True
    looked_up = client.get_tweets([post])
    assert looked_up.data is None and looked_up.errors[0]["title"] == "Authorization Error"
    fake.protect("PM_Example", False)
    fake.suspend("PM_Example")
    (err,) = client.get_users(ids=["1002"]).errors
    assert err["detail"].startswith("User has been suspended")
    fake.suspend("PM_Example", False)
    fake.deactivate("PM_Example")
    (err,) = client.get_users_tweets(1002).errors
    assert err["type"].endswith("/resource-not-found")
    assert client.get_users(usernames=["PM_Example"]).data is None


def test_edits_close_after_thirty_minutes(fake: FakeX, clock: Clock) -> None:
    post = fake.post("PM_Example", "first")
    clock.now += 1700
    newer = fake.edit(post, "second")
    clock.now += 200
    with pytest.raises(ValueError, match="edit window"):
        fake.edit(newer, "third")


def test_short_pages_lag_and_daily_billing(clock: Clock) -> None:
    fake = FakeX(tokens={TOKEN}, clock=clock, page_cap=3, index_delay=30, daily_dedup=True)
    fake.add_user("PM_Example", id="1002")
    ids = [fake.post("PM_Example", f"n{n}", created_at=clock.now - 100 + n) for n in range(7)]
    late = fake.post("PM_Example", "just posted")
    with LocalServer(fake.handle) as server:
        client = tweepy.Client(bearer_token=TOKEN)
        client.session = make_x_session(server.url, timeout=5)
        pages = list(tweepy.Paginator(client.search_recent_tweets, "from:PM_Example"))
        assert [len(p.data) for p in pages] == [3, 3, 1]
        assert all("next_token" in p.meta for p in pages[:2])
        found = [str(t.id) for p in pages for t in p.data]
        assert late not in found and sorted(found) == sorted(ids)
        client.get_users_tweets(1002, max_results=5)  # the same posts again, the same day
    assert fake.billed_reads() == 8  # seven in search, "just posted" in the timeline
