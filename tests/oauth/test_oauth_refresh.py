"""Refresh-token rotation, the grace window and the entitlement at refresh (QUALITY.md 9, 10)."""
import datetime

from models import Connection, OAuthToken, Subscription, utcnow
from tests.oauth.test_oauth_support import api_token_works, get_code, make_market, redeem, refresh

T0 = datetime.datetime(2026, 3, 1, 12, 0)


def _at(time_machine, seconds):
    time_machine.move_to(T0 + datetime.timedelta(seconds=seconds), tick=False)


def _offline(client, auth, market):
    return redeem(client, market, get_code(client, auth, market, access_type="offline")).get_json()


def test_refresh_rotates_both_tokens(app, client, auth, time_machine):
    _at(time_machine, 0)
    market = make_market()
    first = _offline(client, auth, market)
    _at(time_machine, 100)
    response = refresh(client, market, first["refresh_token"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    second = response.get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["expires_in"] == 3600 and second["token_type"] == "Bearer"
    assert second["scope"] == first["scope"]
    assert api_token_works(app, second["access_token"])
    # Only hashes are stored, the derived pair included.
    stored = {h for row in OAuthToken.select() for h in (row.access_token_hash, row.refresh_token_hash)}
    assert second["refresh_token"] not in stored and second["access_token"] not in stored
    # The new refresh token rotates again.
    third = refresh(client, market, second["refresh_token"]).get_json()
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])


def test_replay_inside_the_grace_window_returns_the_same_pair(app, client, auth, time_machine):
    _at(time_machine, 0)
    market = make_market()
    first = _offline(client, auth, market)
    _at(time_machine, 10)
    second = refresh(client, market, first["refresh_token"]).get_json()
    _at(time_machine, 39)  # 29 s after the first use: OAUTH_REFRESH_GRACE is 30
    again = refresh(client, market, first["refresh_token"])
    assert again.status_code == 200
    replayed = again.get_json()
    assert replayed["access_token"] == second["access_token"]
    assert replayed["refresh_token"] == second["refresh_token"]
    assert OAuthToken.select().count() == 2  # no third token
    assert api_token_works(app, second["access_token"])


def test_replay_after_the_grace_window_revokes_the_family(app, client, auth, time_machine):
    _at(time_machine, 0)
    market = make_market()
    first = _offline(client, auth, market)
    _at(time_machine, 10)
    second = refresh(client, market, first["refresh_token"]).get_json()
    _at(time_machine, 41)  # 31 s after the first use
    replay = refresh(client, market, first["refresh_token"])
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    assert not api_token_works(app, second["access_token"])
    assert refresh(client, market, second["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert OAuthToken.select().where(OAuthToken.revoked_at.is_null()).count() == 0


def test_replay_revokes_only_its_own_family(app, client, auth, time_machine):
    _at(time_machine, 0)
    market = make_market()
    first = _offline(client, auth, market)
    other = _offline(client, auth, market)  # a second authorization of the same company
    refresh(client, market, first["refresh_token"])
    _at(time_machine, 100)
    refresh(client, market, first["refresh_token"])
    assert api_token_works(app, other["access_token"])
    assert refresh(client, market, other["refresh_token"]).status_code == 200


def test_refresh_token_expires_after_45_days(client, auth, time_machine):
    _at(time_machine, 0)
    market = make_market()
    first = _offline(client, auth, market)
    _at(time_machine, 45 * 86400)
    response = refresh(client, market, first["refresh_token"])
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_refresh_by_another_client_is_invalid_grant(client, auth):
    from tests import factories
    from tests.oauth.test_oauth_support import basic

    market = make_market()
    first = _offline(client, auth, market)
    other, other_secret = factories.oauth_client(factories.app_listing(), secret="other-secret")
    response = client.post("/oauth-v1/token", data={"grant_type": "refresh_token",
                                                     "refresh_token": first["refresh_token"]},
                           headers=basic(other.client_id, other_secret))
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    assert refresh(client, market, first["refresh_token"]).status_code == 200


def test_refresh_may_narrow_but_not_widen_the_scope(client, auth):
    market = make_market()
    first = _offline(client, auth, market)
    from tests.oauth.test_oauth_support import basic

    wider = client.post("/oauth-v1/token", data={"grant_type": "refresh_token", "scope": "invoice",
                                                  "refresh_token": first["refresh_token"]},
                        headers=basic(market.client.client_id, market.secret))
    assert wider.status_code == 400 and wider.get_json()["error"] == "invalid_scope"
    narrower = client.post("/oauth-v1/token", data={"grant_type": "refresh_token", "scope": "customer",
                                                     "refresh_token": first["refresh_token"]},
                           headers=basic(market.client.client_id, market.secret))
    assert narrower.status_code == 200 and narrower.get_json()["scope"] == "customer"


def test_refresh_is_refused_when_the_entitlement_ended(client, auth, time_machine):
    _at(time_machine, 0)
    market = make_market(price_ore=19900)
    Subscription.create(company=market.company, app=market.app, status="past_due", price_ore=19900,
                        past_due_since=T0)
    first = _offline(client, auth, market)
    _at(time_machine, 6 * 86400)
    second = refresh(client, market, first["refresh_token"])
    assert second.status_code == 200  # still inside BILLING_GRACE_DAYS
    _at(time_machine, 7 * 86400 + 1)
    ended = refresh(client, market, second.get_json()["refresh_token"])
    assert ended.status_code == 400 and ended.get_json()["error"] == "invalid_grant"
    assert "grace" in ended.get_json()["error_description"]


def test_refresh_after_the_connection_was_revoked_is_invalid_grant(app, client, auth):
    from market.oauth import connections as oauth2

    market = make_market()
    first = _offline(client, auth, market)
    oauth2.revoke_connection(app.config, Connection.get())
    assert refresh(client, market, first["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert not api_token_works(app, first["access_token"])


def test_refresh_marks_the_connection_used_at_most_hourly(client, auth, time_machine):
    _at(time_machine, 0)
    market = make_market()
    tokens = _offline(client, auth, market)
    assert Connection.get().last_used_at is None
    _at(time_machine, 60)
    tokens = refresh(client, market, tokens["refresh_token"]).get_json()
    assert Connection.get().last_used_at == T0 + datetime.timedelta(seconds=60)
    _at(time_machine, 1800)
    tokens = refresh(client, market, tokens["refresh_token"]).get_json()
    assert Connection.get().last_used_at == T0 + datetime.timedelta(seconds=60)  # not rewritten
    _at(time_machine, 60 + 3601)
    refresh(client, market, tokens["refresh_token"])
    assert Connection.get().last_used_at == T0 + datetime.timedelta(seconds=3661)


def test_lost_entitlement_hook_revokes_the_grant(app, client, auth):
    from market.billing import signals

    market = make_market()
    first = _offline(client, auth, market)
    signals.access_ended.send(market.company, app=market.app, config=app.config, now=utcnow())
    assert not api_token_works(app, first["access_token"])
    assert refresh(client, market, first["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert Connection.get().revoked_at is not None
