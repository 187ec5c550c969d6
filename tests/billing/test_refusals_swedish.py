"""Billing's refusals in the reader's language (issue Q): a Swedish reader is told in Swedish why
an app cannot be bought or a price change cannot be announced, with dates and amounts written the
Swedish way, and the price change's confirmation is Swedish through and through; English stays
the English the suite has always read."""
import datetime
import re

import pytest

from market.billing import catalogue, price_schedule, refusals
from market.core import words
from market.core.clock import format_day, local_date, utcnow
from models import App, CheckoutAttempt, Developer, Plan, ScheduledPriceChange
from tests import factories
from tests.conftest import form_csrf

ENGLISH_MONTHS = ("Jan ", "Feb ", "Mar ", "Apr ", "May ", "Jun ", "Jul ", "Aug ", "Sep ", "Oct ", "Nov ", "Dec ")


@pytest.fixture
def swedish(client):
    """A browser that asks for Swedish (the suite's `client` asks for English)."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "sv"
    return client


def login(browser, email, path):
    """Logged in, with a form token from `path` (login starts a new session)."""
    token = form_csrf(browser.get("/login").get_data(as_text=True))
    response = browser.post("/login", data={"email": email, "password": factories.PASSWORD, "csrf_token": token})
    assert response.status_code == 303
    return form_csrf(browser.get(path).get_data(as_text=True))


def alert(html):
    return " ".join(re.findall(r'role="alert">(.*?)</p>', html, re.S))


def flashes(html):
    return " ".join(re.findall(r'class="flash flash-\w+">(.*?)</li>', html, re.S))


def days_ahead(days):
    return local_date(utcnow()) + datetime.timedelta(days=days)


@pytest.fixture
def shop(paid_app):
    listing, plan, developer = paid_app
    App.update(name="Lönekoll").where(App.id == listing.id).execute()
    Plan.update(name="Standard", stripe_price_id="price_on_sale").where(Plan.id == plan.id).execute()
    buyer = factories.customer_admin(email="kund@example.test", language="sv")
    return App.get_by_id(listing.id), Plan.get_by_id(plan.id), developer, buyer


def buy(browser, listing, plan):
    token = login(browser, "kund@example.test", f"/apps/{listing.slug}")
    return browser.post(f"/apps/{listing.slug}/buy", data={"csrf_token": token, "plan": plan.id})


def test_a_swedish_reader_is_told_in_swedish_that_a_suspended_app_cannot_be_bought(swedish, shop):
    listing, plan, _developer, _buyer = shop
    App.update(status="suspended").where(App.id == listing.id).execute()
    refused = buy(swedish, listing, plan)
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert "Lönekoll har stängts av App Market och kan inte köpas." in alert(page)
    assert "suspended" not in alert(page) and "Cannot buy" not in page
    assert not CheckoutAttempt.select().exists()


def test_a_swedish_reader_is_told_in_swedish_that_the_developer_has_not_set_up_payouts(swedish, shop):
    listing, plan, developer, _buyer = shop
    Developer.update(payouts_enabled=False).where(Developer.id == developer.id).execute()
    refused = buy(swedish, listing, plan)
    assert refused.status_code == 409
    said = alert(refused.get_data(as_text=True))
    assert said == ("Lönekoll kan inte köpas ännu: utvecklaren har inte gjort klart sina utbetalningar hos "
                    "Stripe. Inget har dragits; försök igen senare.")
    assert not CheckoutAttempt.select().exists()


def test_an_english_reader_still_reads_the_english_refusal(client, shop):
    listing, plan, developer, buyer = shop
    buyer.language = "en"
    buyer.save()
    Developer.update(payouts_enabled=False).where(Developer.id == developer.id).execute()
    said = alert(buy(client, listing, plan).get_data(as_text=True))
    assert said == ("Lönekoll cannot be bought yet: its developer has not finished setting up payouts with "
                    "Stripe. Nothing was charged; please try again later.")


@pytest.fixture
def developer_page(swedish, shop):
    """The app's developer, reading Swedish, on its plans page: (browser, form token, shop)."""
    listing, plan, developer, buyer = shop
    factories.developer_user(email="utvecklare@example.test", developer_obj=developer, language="sv")
    token = login(swedish, "utvecklare@example.test", f"/developer/apps/{listing.slug}/plans")
    return swedish, token, (listing, plan)


def announce(browser, token, listing, plan, price_kr, effective_on):
    return browser.post(f"/developer/apps/{listing.slug}/plans/{plan.id}/price-change",
                        data={"csrf_token": token, "price_kr": price_kr, "effective_on": effective_on.isoformat()})


def test_a_rise_29_days_ahead_is_refused_in_swedish_with_the_date_written_the_swedish_way(developer_page):
    browser, token, (listing, plan) = developer_page
    refused = announce(browser, token, listing, plan, "249", days_ahead(29))
    assert refused.status_code == 422
    said = alert(refused.get_data(as_text=True))
    earliest = days_ahead(30)
    assert said == (f"Ett högre pris kräver 30 dagars varsel till abonnenterna: välj {format_day(earliest, 'sv')} "
                    "eller senare. Inget har ändrats.")
    assert earliest.isoformat() not in said and not any(month in said for month in ENGLISH_MONTHS)
    assert not ScheduledPriceChange.select().exists()


def test_the_price_change_is_confirmed_all_in_swedish(developer_page, monkeypatch):
    browser, token, (listing, plan) = developer_page
    # Stripe's side of the change is tested against the sandbox (test_price_notice.py): here, only the words.
    monkeypatch.setattr(catalogue, "ensure_price", lambda config, plan, app=None: plan.stripe_price_id)
    monkeypatch.setattr(catalogue, "new_price", lambda config, plan, app, price_ore, *key: "price_coming")
    effective_on = days_ahead(30)
    done = announce(browser, token, listing, plan, "1249,50", effective_on)
    assert done.status_code == 303
    said = flashes(browser.get(done.headers["Location"]).get_data(as_text=True))
    assert said == (f"Standard: Från {format_day(effective_on, 'sv')}: 1\u00a0249,50 kr/mån exkl. moms. "
                    "Alla abonnenter har fått veta.")
    assert "From" not in said and format_day(effective_on, "en") not in said
    assert not any(month in said for month in ENGLISH_MONTHS)


def test_a_refusal_keeps_english_for_logs_and_says_amounts_and_dates_in_each_language():
    refused = price_schedule.PriceChangeRefused(words.marked("%(plan)s already costs %(price)s."), "price_kr",
                                                plan="Standard", price=refusals.price(123450))
    assert refused.field == "price_kr" and isinstance(refused, refusals.BuyRefused)
    assert str(refused) == refused.message == "Standard already costs 1,234.50 kr/month excl. VAT."
    assert refused.said_in("sv") == "Standard kostar redan 1\u00a0234,50 kr/mån exkl. moms."
    moment = datetime.datetime(2026, 12, 15, 23, 30)  # stored in UTC: 16 December in Stockholm
    over = refusals.MoneyBackRefused(words.marked(
        "Money back is possible for %(days)s days after the first payment; for %(app)s that ended on %(date)s. "
        "You can still cancel at the end of the paid period."), days=14, app="Lönekoll", date=refusals.day(moment))
    assert "that ended on 2026-12-16." in over.message
    assert "gick det ut den 16 dec. 2026." in over.said_in("sv")
