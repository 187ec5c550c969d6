"""API health per app and day (issue U item 3): a scripted burst of good, failing, throttled,
bad-token and failed-refresh calls gives exact counts on the developer's dashboard once flushed
(`flask --app app api-health-flush`), nothing before; the rate-limited companies are named; a
jump mails the developer once per app and day."""
import datetime
import re

import pytest

from market.api import health, resources
from models import ApiHealthDay, OutboxMail
from tests import factories

DAY = datetime.datetime(2026, 12, 3, 10, 0, tzinfo=datetime.UTC)
CELLS = ("calls", "4xx", "5xx", "429", "refresh-failed", "token-errors", "p95-ms")


def call(client, token, url="/api/v1/me"):
    return client.get(url, headers={"Authorization": f"Bearer {token}"})


def health_row(client, slug, day):
    page = client.get("/developer").get_data(as_text=True)
    section = re.search(r'<section id="api-health".*?</section>', page, re.S)
    assert section, page
    table = re.search(rf'<table class="api-health" data-app="{slug}">(.*?)</table>', section.group(0), re.S)
    assert table, section.group(0)
    row = re.search(rf'<tr data-day="{day}">(.*?)</tr>', table.group(1), re.S)
    assert row, table.group(1)
    return {name: re.search(rf'data-{name}="([^"]*)"', row.group(1)).group(1) for name in CELLS}, section.group(0)


@pytest.fixture
def burst_world(app, time_machine):
    time_machine.move_to(DAY, tick=False)  # one instant: the rate limit's window never moves
    owner = factories.developer_user(email="owner@example.test")
    listing = factories.app_listing(developer_obj=owner.developer, slug="ledger-app", name="Ledger App")
    busy = factories.company(name="Busy AB")
    calm = factories.company(name="Calm AB")
    busy_conn = factories.api_connection(busy, listing)
    return {"listing": listing, "busy": factories.issue_token(busy_conn),
            "expired": factories.issue_token(busy_conn, ttl=-60),
            "calm": factories.issue_token(factories.api_connection(calm, listing))}


def test_a_scripted_burst_is_counted_exactly(app, client, auth, runner, burst_world, monkeypatch):
    monkeypatch.setattr(health, "FLUSH_SECONDS", 3600)  # only the command flushes in this test
    world = burst_world
    for _ in range(20):
        assert call(client, world["busy"]).status_code == 200
    for _ in range(3):
        assert call(client, world["busy"], "/api/v1/customers/999999").status_code == 404
    for _ in range(2):
        assert call(client, world["busy"]).status_code == 200
    for _ in range(4):  # the 26th to 29th calls in 5 s
        assert call(client, world["busy"]).status_code == 429
    for _ in range(5):
        assert call(client, world["calm"]).status_code == 200
    with monkeypatch.context() as broken:
        broken.setattr(resources, "me", lambda grant: 1 / 0)
        for _ in range(2):
            assert call(client, world["calm"]).status_code == 500
    for _ in range(3):
        assert call(client, world["expired"]).status_code == 401
    assert call(client, "not-a-token-of-anyone").status_code == 401  # no app: counted nowhere
    for _ in range(2):
        refused = client.post("/oauth-v1/token", data={"grant_type": "refresh_token", "refresh_token": "nope",
                                                        "client_id": "client-ledger-app"})
        assert refused.status_code in (400, 401)

    auth.login("owner@example.test")
    before, section = health_row(client, "ledger-app", "2026-12-03")
    assert before == {"calls": "0", "4xx": "0", "5xx": "0", "429": "0", "refresh-failed": "0", "token-errors": "0",
                      "p95-ms": ""}
    assert "no calls counted yet" in section

    result = runner.invoke(args=["api-health-flush"])
    assert result.exit_code == 0 and "39 call(s)" in result.output, result.output
    after, section = health_row(client, "ledger-app", "2026-12-03")
    p95 = after.pop("p95-ms")
    assert after == {"calls": "39", "4xx": "10", "5xx": "2", "429": "4", "refresh-failed": "2", "token-errors": "3"}
    assert int(p95) in health.BUCKETS_MS
    assert "as of 3 Dec 2026 11:00 Stockholm time" in section  # Stockholm's clock, the zone named
    assert 'data-company="Busy AB" data-429="4"' in section and "Calm AB" not in section
    assert 'data-chart="chart-api-calls-ledger-app"' in section and "12-03: 39" in section
    assert "12-03: 12" in section  # the errors chart: 10 4xx and 2 5xx
    # A second flush adds nothing; a day without calls is there at zero.
    runner.invoke(args=["api-health-flush"])
    assert health_row(client, "ledger-app", "2026-12-03")[0]["calls"] == "39"
    assert health_row(client, "ledger-app", "2026-12-02")[0]["calls"] == "0"
    # Fewer than 100 calls: no jump mail.
    assert OutboxMail.select().where(OutboxMail.to == "owner@example.test").count() == 0


def test_another_developer_sees_no_health_of_the_app(app, client, auth, runner, burst_world):
    assert call(client, burst_world["busy"]).status_code == 200
    runner.invoke(args=["api-health-flush"])
    factories.developer_user(email="rival@example.test")
    auth.login("rival@example.test")
    page = client.get("/developer").get_data(as_text=True)
    assert 'id="api-health"' in page and "ledger-app" not in page
    assert client.get("/developer?app=ledger-app").status_code == 404


def test_counts_are_flushed_every_ten_seconds_at_most(app, client, burst_world, monkeypatch):
    counters = app.extensions["api_health"]
    monkeypatch.setattr(counters, "last_flush", 0.0)  # long ago: the next call flushes
    assert call(client, burst_world["busy"]).status_code == 200
    assert ApiHealthDay.get(ApiHealthDay.app == burst_world["listing"].id).calls == 1
    # Within ten seconds of that flush, calls stay in memory.
    assert call(client, burst_world["busy"]).status_code == 200
    assert ApiHealthDay.get(ApiHealthDay.app == burst_world["listing"].id).calls == 1
    for other in list(health._LIVE):  # earlier tests' apps (a worker has one) would write here too
        if other is not counters:
            with other.lock:
                other._reset()
    health.flush_all()  # as when the worker stops
    assert ApiHealthDay.get(ApiHealthDay.app == burst_world["listing"].id).calls == 2


def test_a_jump_mails_the_developer_once_per_app_and_day(app, client, runner, burst_world):
    listing = burst_world["listing"]
    today = DAY.date()
    for back in range(1, 8):  # a calm week: 200 calls a day, 2 % errors, one 429
        ApiHealthDay.create(app=listing, day=today - datetime.timedelta(days=back), calls=200, client_errors=4,
                            throttled=1)
    # Today: 100 calls, 8 % errors: 6 points above the week.
    ApiHealthDay.create(app=listing, day=today, calls=100, client_errors=8)
    assert health.mail_jumps(app.config, today) == 1
    mails = list(OutboxMail.select().where(OutboxMail.to == "owner@example.test"))
    assert len(mails) == 1 and "Ledger App" in mails[0].subject and "8.0 %" in mails[0].body
    # More bad calls the same day: no second mail.
    ApiHealthDay.update(client_errors=50).where(ApiHealthDay.day == today).execute()
    assert health.mail_jumps(app.config, today) == 0
    assert OutboxMail.select().where(OutboxMail.to == "owner@example.test").count() == 1


def test_what_is_a_jump():
    week = [{"calls": 200, "client_errors": 4, "server_errors": 0, "throttled": 2}] * 7  # 2 %, two 429s
    day = {"calls": 100, "client_errors": 6, "server_errors": 0, "throttled": 0}
    assert health.jump(day, week) is None  # 6 %: 4 points above
    assert health.jump({**day, "server_errors": 1}, week)  # 7 %: 5 points above
    assert health.jump({**day, "calls": 99, "client_errors": 50}, week) is None  # under 100 calls
    assert health.jump({**day, "throttled": 6}, week)  # 3 × the mean of two
    assert health.jump({**day, "throttled": 5}, week) is None
