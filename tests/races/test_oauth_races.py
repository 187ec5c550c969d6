"""Races against a real threaded server on PostgreSQL, where requests truly run at once
(QUALITY.md 5, 9). SQLite serialises writers anyway, so these run on PostgreSQL only."""
import datetime
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from models import OAuthToken
from tests.oauth.test_oauth_support import LiveServer, get_code, make_market, redeem, refresh

pytestmark = pytest.mark.postgres_only

T0 = datetime.datetime(2026, 3, 1, 12, 0)


@pytest.fixture
def engine():
    """Only the PostgreSQL side of the `app` fixture."""
    return "postgresql"


@pytest.fixture
def live(app):
    server = LiveServer(app)
    yield server
    server.close()


def _all_at_once(count, call):
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: call(), range(count)))


def test_ten_parallel_redemptions_of_one_code_give_exactly_one_success(live, client, auth, engine):
    assert engine == "postgresql"
    market = make_market()
    code = get_code(client, auth, market, access_type="offline")
    from tests.oauth.test_oauth_support import REDIRECT_URI

    def redeem_once():
        return requests.post(live.url + "/oauth-v1/token",
                             data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
                             auth=(market.client.client_id, market.secret), timeout=30)

    responses = _all_at_once(10, redeem_once)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * 9, [r.text for r in responses]
    assert {r.json()["error"] for r in responses if r.status_code == 400} == {"invalid_grant"}
    assert OAuthToken.select().count() == 1


def test_concurrent_refreshes_inside_the_window_share_one_new_pair(live, client, auth, time_machine):
    time_machine.move_to(T0, tick=False)
    market = make_market()
    first = redeem(client, market, get_code(client, auth, market, access_type="offline")).get_json()

    def refresh_once():
        return requests.post(live.url + "/oauth-v1/token",
                             data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                             auth=(market.client.client_id, market.secret), timeout=30)

    responses = _all_at_once(6, refresh_once)
    assert [r.status_code for r in responses] == [200] * 6, [r.text for r in responses]
    pairs = {(r.json()["access_token"], r.json()["refresh_token"]) for r in responses}
    assert len(pairs) == 1
    assert OAuthToken.select().count() == 2
    (access, new_refresh), = pairs
    # The shared pair is a working one: it refreshes in turn.
    assert refresh(client, market, new_refresh).status_code == 200


def test_concurrent_replays_after_the_window_all_fail_and_revoke_the_family(live, client, auth, time_machine):
    time_machine.move_to(T0, tick=False)
    market = make_market()
    first = redeem(client, market, get_code(client, auth, market, access_type="offline")).get_json()
    second = refresh(client, market, first["refresh_token"]).get_json()
    time_machine.move_to(T0 + datetime.timedelta(seconds=31), tick=False)

    def replay():
        return requests.post(live.url + "/oauth-v1/token",
                             data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                             auth=(market.client.client_id, market.secret), timeout=30)

    responses = _all_at_once(6, replay)
    assert [r.status_code for r in responses] == [400] * 6
    assert {r.json()["error"] for r in responses} == {"invalid_grant"}
    assert OAuthToken.select().where(OAuthToken.revoked_at.is_null()).count() == 0
    assert refresh(client, market, second["refresh_token"]).get_json()["error"] == "invalid_grant"
