"""The platform admin's page (issue J): platform revenue by month and by app from the ledger,
webhook health, the replay button (the code of `flask stripe-replay`), app-notification health."""
import datetime
import re

import pytest
import stripe

from market.billing import gateway, replay
from market.core import money
from market.dashboards import figures as dashboard
from market.notifications import outbox as notifications
from models import AppNotification, StripeEvent, utcnow
from tests import factories

NOW = utcnow()


def cell(html, attribute, value):
    row = html.split(f'<tr {attribute}="{value}">', 1)[1].split("</tr>", 1)[0]
    return row


@pytest.fixture
def admin(app, auth):
    factories.user(email="root@example.test", is_platform_admin=True)
    auth.login("root@example.test")


def test_platform_revenue_by_month_and_by_app_equals_the_ledger(app, admin, client):
    one, two = factories.app_listing(price_ore=10000, slug="one-app"), factories.app_listing(price_ore=20000,
                                                                                            slug="two-app")
    this_month = NOW.replace(day=1, hour=12)
    last_month = (this_month - datetime.timedelta(days=3)).replace(day=1, hour=12)
    factories.ledger_entry(one, gross_ore=12500, moms_ore=2500, occurred_at=this_month)
    factories.ledger_entry(one, gross_ore=12500, moms_ore=2500, occurred_at=last_month)
    factories.ledger_entry(two, gross_ore=25001, moms_ore=5000, occurred_at=this_month)
    factories.ledger_entry(two, gross_ore=-5000, moms_ore=-1000, kind="refund", occurred_at=this_month)
    factories.ledger_entry(two, gross_ore=99999, moms_ore=1, occurred_at=NOW - datetime.timedelta(days=900))
    html = client.get("/admin").get_data(as_text=True)
    # 25 % of 10000 = 2500 twice; of 20001 the developer gets 15001 (half up), the platform 5000;
    # the refund of 4000 net takes back 1000.
    total = dashboard.platform_total(dashboard.default_period(NOW.date()))
    assert total["platform_ore"] == 2500 + 2500 + 5000 - 1000 and total["moms_ore"] == 2500 + 2500 + 5000 - 1000
    assert re.search(r'data-figure="platform_ore" data-ore="9000"', html.split('data-scope="platform"')[1])
    assert 'data-ore="6500"' in cell(html, "data-month", this_month.strftime("%Y-%m"))
    assert 'data-ore="2500"' in cell(html, "data-month", last_month.strftime("%Y-%m"))
    assert 'data-ore="5000"' in cell(html, "data-app", "one-app")
    assert 'data-ore="4000"' in cell(html, "data-app", "two-app")
    narrowed = client.get(f"/admin?from={last_month.date()}&to={last_month.date()}",
                          headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in narrowed and 'id="admin-figures"' in narrowed
    assert re.search(r'data-figure="platform_ore" data-ore="2500"', narrowed)
    assert "YYYY-MM-DD" in client.get("/admin?from=31/12/2026").get_data(as_text=True)


def test_webhook_health_per_type(app, admin, client):
    # The page says how old the newest event is, so the events are made relative to the time of
    # this test, not of the module's import (a long suite runs many minutes in between).
    now = utcnow()
    created = int((now - datetime.timedelta(minutes=5)).replace(tzinfo=datetime.UTC).timestamp())
    for n, kind in enumerate(("invoice.paid", "invoice.paid", "account.updated")):
        StripeEvent.create(event_id=f"evt_{n}", type=kind, created=created - n, payload="{}",
                           received_at=now - datetime.timedelta(minutes=4, hours=30 * (n == 1)))
    response = client.get("/admin")
    html = response.get_data(as_text=True)
    assert response.status_code == 200, (response.status_code, response.headers.get("Location"), html[:300])
    row = cell(html, "data-event-type", "invoice.paid")
    assert "<td>2</td><td>1</td>" in row  # two events, one in the last 24 h
    assert re.search(r"<td>(29\d|30\d) s</td>|<td>5 min</td>", row)


def test_notification_health(app, admin, client):
    listing = factories.app_listing()
    rows = [(0, None), (2, None), (notifications.MAX_ATTEMPTS, None), (1, NOW - datetime.timedelta(hours=1)),
            (1, NOW - datetime.timedelta(days=3))]
    for n, (attempts, delivered_at) in enumerate(rows):
        AppNotification.create(app=listing, event_id=f"ntf_{n}", type="subscription.created", payload="{}",
                               attempts=attempts, delivered_at=delivered_at,
                               last_error="HTTP 500" if attempts and not delivered_at else "")
    html = client.get("/admin").get_data(as_text=True)
    block = html.split('data-scope="notifications"')[1].split("</dl>")[0]
    shown = dict(re.findall(r'data-figure="(\w+)">(\d+)<', block))
    assert shown == {"pending": "2", "failing": "1", "given_up": "1", "delivered_24h": "1"}
    assert "HTTP 500" in html


class FakeEvents:
    def __init__(self, events):
        self.events, self.asked = events, []

    def list(self, params):
        self.asked.append(params)
        events = self.events

        class Listing:
            def auto_paging_iter(self):
                for body in events:
                    yield stripe.StripeObject.construct_from(body, "sk_test")
        return Listing()


def test_replay_runs_the_stripe_replay_code(app, admin, auth, client, monkeypatch):
    body = {"id": "evt_replayed", "object": "event", "type": "radar.early_fraud_warning.created",
            "created": int(NOW.replace(tzinfo=datetime.UTC).timestamp()), "data": {"object": {"id": "x"}}}
    events = FakeEvents([body])

    class FakeClient:
        class v1:  # noqa: N801 - the stripe library's attribute name
            pass
    FakeClient.v1.events = events
    monkeypatch.setattr(gateway, "stripe_client", lambda config: FakeClient)
    response = auth.post("/admin/stripe-replay", {"since": "2026-11-01", "developer_id": "1"})
    assert response.status_code == 303
    assert events.asked[0]["created"] == {"gte": replay.parse_since("2026-11-01")}
    assert StripeEvent.get(StripeEvent.event_id == "evt_replayed").type == "radar.early_fraud_warning.created"
    page = client.get("/admin").get_data(as_text=True)
    assert "ignored 1" in page and 'data-event-type="radar.early_fraud_warning.created"' in page
    assert auth.post("/admin/stripe-replay", {"since": "2026-11-01"}).status_code == 303
    assert StripeEvent.select().count() == 1  # a second replay finds it already stored


@pytest.mark.parametrize("since", ["yesterday", "", "2026-13-45", "9" * 40])
def test_replay_refuses_a_bad_start_and_calls_nothing(app, admin, auth, monkeypatch, since):
    calls = []
    monkeypatch.setattr(replay, "replay_events", lambda config, moment: calls.append(moment))
    response = auth.post("/admin/stripe-replay", {"since": since})
    assert response.status_code == 400 and calls == []
    assert "Write the start as a date" in response.get_data(as_text=True)


def test_replay_reports_stripe_being_unreachable(app, admin, auth, monkeypatch):
    def unreachable(config, since):
        raise stripe.APIConnectionError("Could not connect to Stripe")
    monkeypatch.setattr(replay, "replay_events", unreachable)
    response = auth.post("/admin/stripe-replay", {"since": "2026-11-01"})
    assert response.status_code == 502 and "Stripe did not answer" in response.get_data(as_text=True)


def test_refunds_and_disputes_of_a_month_are_one_figure(app, admin, client):
    # The page's "Refunds and disputes" column is figures' sum, written by the kr filter.
    listing = factories.app_listing(price_ore=10000, slug="reversed-app")
    this_month = NOW.replace(day=1, hour=12)
    factories.ledger_entry(listing, gross_ore=-5000, moms_ore=-1000, kind="refund", occurred_at=this_month)
    factories.ledger_entry(listing, gross_ore=-12550, moms_ore=-2510, kind="dispute", occurred_at=this_month)
    month = [row for row in dashboard.platform_by_month(dashboard.default_period(NOW.date()))
             if row["month"] == this_month.strftime("%Y-%m")][0]
    assert month["refunds_and_disputes_ore"] == month["refunds_ore"] + month["disputes_ore"] == -17550
    html = client.get("/admin").get_data(as_text=True)
    assert cell(html, "data-month", this_month.strftime("%Y-%m")).endswith(f"<td>{money.format_kr(-17550, 'en')}</td>")
