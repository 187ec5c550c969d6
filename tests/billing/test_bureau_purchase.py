"""A bureau activates and buys for many clients (issue T, Deliver 1 and "Done when"), through
HTTP against the Stripe sandbox: the queue at /bureau/progress, the bureau's card saved through
setup-mode Checkout, each client's subscription on the bureau's Stripe customer, entitled to
the client alone and billed on its own invoices, a third client untouched."""
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from market.billing import gateway
from market.entitlement import rules as entitlements
from models import (
    BureauCard,
    BureauStep,
    BureauSubscription,
    Company,
    LedgerEntry,
    Membership,
    OutboxMail,
    Subscription,
    User,
)
from tests import factories
from tests.billing.conftest import sandbox_config
from tests.billing.test_purchase import make_shop


@pytest.fixture
def app_config(sandbox, live_port):
    return sandbox_config(sandbox, live_port)


def bureau_with_clients():
    own = factories.company(name="Byrån AB")
    user = factories.customer_admin(email="byra@example.test", company_obj=own)
    clients = [factories.company(name=f"Klient {n} AB") for n in ("Ett", "Två", "Tre")]
    Membership.create(user=user, company=own, role="admin")
    for client in clients:
        Membership.create(user=user, company=client, role="admin")
    return user, own, clients


def states(http, market):
    page = http.get(market.url + "/bureau/progress", timeout=10).text
    return dict(re.findall(r'<tr data-company="([^"]+)" data-state="([^"]+)">', page))


def current_token(http, market, path="/bureau/progress"):
    """The `company` field the page's form carries: the current company's public id."""
    page = http.get(market.url + path, timeout=10).text
    company = re.search(r'<form method="post" action="[^"]*">\s*<input type="hidden" name="csrf_token" value="[^"]+">'
                        r'<input type="hidden" name="company" value="([^"]+)">', page)
    return company.group(1) if company else None


def next_client(market, http):
    return market.post(http, "/bureau/progress/next", {"company": current_token(http, market)})


def save_card(market, http, card="4242 4242 4242 4242"):
    start = market.post(http, "/bureau/card", {"company": current_token(http, market, "/bureau/card")})
    assert start.status_code == 303 and start.headers["Location"].startswith(market.sandbox.url + "/c/pay/cs_")
    page = http.get(start.headers["Location"], timeout=10)
    assert page.status_code == 200 and "Save card" in page.text and "Subscribe" not in page.text
    action = re.search(r'<form method=post action="([^"]+)"', page.text).group(1)
    paid = http.post(market.sandbox.url + action, timeout=30, allow_redirects=False,
                     data={"card_number": card, "exp": "12/34", "cvc": "123", "name": "Berit Byrå"})
    if paid.status_code == 200 and "Complete authentication" in paid.text:  # 3D Secure when the card is saved
        paid = http.post(f"{market.sandbox.url}{action}/confirm", data={"action": "complete"}, timeout=30,
                         allow_redirects=False)
    assert paid.status_code == 303 and "/bureau/card/saved?session_id=cs_" in paid.headers["Location"]
    return http.get(paid.headers["Location"], timeout=10, allow_redirects=False)


def test_a_bureau_activates_a_free_app_and_buys_a_paid_one_for_two_clients(market):
    listing, plan, _buyer = make_shop(market)
    free = factories.app_listing(name="Kvittoskannern", slug="kvittoskannern",
                                 landing_url="https://kvitto.example.test/start")
    factories.oauth_client(free)
    user, own, (one, two, three) = bureau_with_clients()
    http = market.login(user.email)

    # The app page links to the form; the form lists the companies where the user is an admin.
    assert 'href="/apps/kvittoskannern/clients"' in http.get(market.url + "/apps/kvittoskannern", timeout=10).text
    form = http.get(market.url + "/apps/kvittoskannern/clients", timeout=10).text
    assert all(f'value="{c.public_id}"' in form for c in (own, one, two, three))

    # Free app, two clients: each in turn becomes the current company and goes to the landing page.
    chosen = market.post(http, "/apps/kvittoskannern/clients",
                         {"clients": [one.public_id, two.public_id], "company": own.public_id})
    assert chosen.status_code == 303 and chosen.headers["Location"].endswith("/bureau/progress")
    assert states(http, market) == {one.public_id: "waiting", two.public_id: "waiting"}
    for client in (one, two):
        sent = next_client(market, http)
        assert sent.status_code == 303
        landing = urlsplit(sent.headers["Location"])
        assert landing.netloc == "kvitto.example.test"
        assert parse_qs(landing.query)["company"] == [client.public_id]
        assert User.get_by_id(user.id).company_id == client.id
    assert states(http, market) == {one.public_id: "done", two.public_id: "done"}  # survives a reload

    # Paid app, the bureau pays: the card first (Checkout in setup mode), then one client at a time.
    market.post(http, "/account/company", {"company": own.public_id})
    chosen = market.post(http, f"/apps/{listing.slug}/clients",
                         {"clients": [one.public_id, two.public_id], "plan": str(plan.id),
                          "payer-" + one.public_id: "bureau", "payer-" + two.public_id: "bureau",
                          "company": own.public_id})
    assert chosen.status_code == 303
    progress = http.get(market.url + "/bureau/progress", timeout=10).text
    assert 'href="/bureau/card"' in progress and "/bureau/progress/next" not in progress  # no card yet
    early = next_client(market, http)  # sent anyway (an old tab): the step waits for the card
    assert early.status_code == 303 and early.headers["Location"].endswith("/bureau/card")
    assert states(http, market) == {one.public_id: "waiting", two.public_id: "waiting"}
    market.post(http, "/account/company", {"company": own.public_id})
    saved = save_card(market, http)
    assert saved.status_code == 303 and saved.headers["Location"].endswith("/bureau/progress")
    card = BureauCard.get(BureauCard.company == own.id)
    assert card.last4 == "4242" and card.stripe_payment_method_id.startswith("pm_")
    for _client in (one, two):
        done = next_client(market, http)
        assert done.status_code == 303 and done.headers["Location"].endswith("/bureau/progress")
    market.settle()
    assert states(http, market) == {one.public_id: "done", two.public_id: "done"}

    # Each client is entitled alone, on a subscription of its own on the bureau's customer.
    grace = market.app.config["BILLING_GRACE_DAYS"]
    bureau_customer = Company.get_by_id(own.id).stripe_customer_id
    stripe = gateway.stripe_client(market.app.config)
    invoices = set()
    for client in (one, two):
        sub = Subscription.get(Subscription.company == client.id, Subscription.app == listing.id)
        assert (sub.status, sub.price_ore) == ("active", 19900)
        assert entitlements.check(client, listing, grace).allowed
        at_stripe = stripe.v1.subscriptions.retrieve(sub.stripe_subscription_id)
        assert at_stripe.customer == bureau_customer
        assert at_stripe.default_payment_method == card.stripe_payment_method_id
        assert at_stripe.metadata["company_id"] == str(client.id)
        assert at_stripe.transfer_data.destination == listing.developer.stripe_account_id
        assert float(at_stripe.application_fee_percent) == 40.0
        assert at_stripe.items.data[0].tax_rates[0].percentage == 25.0
        invoices.add(at_stripe.latest_invoice)
        entry = LedgerEntry.get(LedgerEntry.subscription == sub.id)
        assert (entry.company_id, entry.net_ore, entry.moms_ore, entry.stripe_invoice_id) == (
            client.id, 19900, 4975, at_stripe.latest_invoice)
        assert BureauSubscription.get(BureauSubscription.stripe_subscription_id == sub.stripe_subscription_id).bureau_id == own.id
    assert len(invoices) == 2  # billed on its own invoices
    assert not Subscription.select().where(Subscription.company.in_([three.id, own.id])).exists()
    assert not entitlements.check(three, listing, grace).allowed
    assert LedgerEntry.select().count() == 2

    # /bureau: the spend per client and in total, the same figures as each client's spend view.
    page = http.get(market.url + "/bureau", timeout=10).text
    rows = dict(re.findall(r'<tr data-company="([^"]+)">(.*?)</tr>', page, re.S))
    for client in (one, two):
        assert 'data-next-ore="19900"' in rows[client.public_id] or 'data-month-ore="19900"' in rows[client.public_id]
        assert f'data-paid-by="{own.public_id}"' in rows[client.public_id]
    assert 'data-month-ore="0"' in rows[three.public_id]


def test_a_bureau_paid_subscription_ends_when_the_client_removes_the_bureau_or_cancels_it(market):
    listing, plan, _buyer = make_shop(market)
    user, own, (one, two, three) = bureau_with_clients()
    boss = factories.customer_admin(email="boss@klient.test", company_obj=one)
    other_boss = factories.customer_admin(email="boss@tre.test", company_obj=three)
    http = market.login(user.email)
    market.post(http, f"/apps/{listing.slug}/clients",
                {"clients": [one.public_id, two.public_id, three.public_id], "plan": str(plan.id),
                 "company": own.public_id, "payer-" + one.public_id: "bureau", "payer-" + two.public_id: "bureau",
                 "payer-" + three.public_id: "bureau"})
    save_card(market, http)
    for _ in range(3):
        next_client(market, http)
    market.settle()
    mine, theirs, third = (Subscription.get(Subscription.company == c.id) for c in (one, two, three))
    assert mine.status == theirs.status == third.status == "active"

    # A client's own admin may cancel the subscription the bureau pays for it.
    other_http = market.login(other_boss.email)
    canceled = market.post(other_http, f"/account/apps/{listing.slug}/cancel")
    assert canceled.status_code == 303
    market.settle()
    assert Subscription.get_by_id(third.id).cancel_at_period_end is True
    stripe_third = gateway.stripe_client(market.app.config).v1.subscriptions.retrieve(third.stripe_subscription_id)
    assert stripe_third.cancel_at_period_end is True and stripe_third.metadata["company_id"] == str(three.id)

    boss_http = market.login(boss.email)
    OutboxMail.delete().execute()
    removed = market.post(boss_http, f"/account/members/{user.id}/remove")
    assert removed.status_code == 303
    market.settle()
    assert Subscription.get_by_id(mine.id).cancel_at_period_end is True
    assert Subscription.get_by_id(theirs.id).cancel_at_period_end is False  # another client's stays
    stripe_sub = gateway.stripe_client(market.app.config).v1.subscriptions.retrieve(mine.stripe_subscription_id)
    assert stripe_sub.cancel_at_period_end is True
    told = {(m.to, m.subject) for m in OutboxMail.select()}
    assert any(to == boss.email and "no longer pays" in subject.lower() or to == boss.email and "betalar" in subject
               for to, subject in told), told
    assert any(to == user.email and "removed your bureau" in subject.lower() or to == user.email and "byrå" in subject
               for to, subject in told), told


def test_the_client_itself_pays_at_checkout_and_the_run_comes_back_to_progress(market):
    listing, plan, _buyer = make_shop(market)
    user, own, (one, _two, _three) = bureau_with_clients()
    http = market.login(user.email)
    market.post(http, f"/apps/{listing.slug}/clients",
                {"clients": [one.public_id], "plan": str(plan.id), "company": own.public_id,
                 "payer-" + one.public_id: "client"})
    sent = next_client(market, http)
    assert sent.status_code == 303 and sent.headers["Location"].startswith(market.sandbox.url + "/c/pay/cs_")
    assert states(http, market) == {one.public_id: "needs_you"}
    page = http.get(sent.headers["Location"], timeout=10)
    action = re.search(r'<form method=post action="([^"]+)"', page.text).group(1)
    paid = http.post(market.sandbox.url + action, timeout=30, allow_redirects=False,
                     data={"card_number": "4242 4242 4242 4242", "exp": "12/34", "cvc": "123", "name": "Klient"})
    assert "/bureau/progress?session_id=cs_" in paid.headers["Location"]
    market.settle()
    assert states(http, market) == {one.public_id: "done"}
    sub = Subscription.get(Subscription.company == one.id)
    at_stripe = gateway.stripe_client(market.app.config).v1.subscriptions.retrieve(sub.stripe_subscription_id)
    assert at_stripe.customer == Company.get_by_id(one.id).stripe_customer_id  # the client's own customer
    assert not BureauSubscription.select().exists()


def test_a_form_for_another_company_is_refused_and_changes_nothing(market):
    listing, plan, _buyer = make_shop(market)
    user, own, (one, two, _three) = bureau_with_clients()
    http = market.login(user.email)
    refused = market.post(http, f"/apps/{listing.slug}/clients",
                          {"clients": [one.public_id], "plan": str(plan.id), "company": one.public_id})
    assert refused.status_code == 409
    assert not BureauStep.select().exists()
    # A company where the user is not an admin (or not a member) cannot be chosen either.
    stranger = factories.customer_admin(email="other@example.test").company
    Membership.update(role="member").where(Membership.user == user.id, Membership.company == two.id).execute()
    for public_id in (stranger.public_id, two.public_id):
        response = market.post(http, f"/apps/{listing.slug}/clients",
                               {"clients": [one.public_id, public_id], "plan": str(plan.id), "company": own.public_id})
        assert response.status_code == 404
        assert not BureauStep.select().exists()
    # The queue's next step, too, checks the form's company.
    market.post(http, f"/apps/{listing.slug}/clients",
                {"clients": [one.public_id], "plan": str(plan.id), "company": own.public_id})
    assert market.post(http, "/bureau/progress/next", {"company": one.public_id}).status_code == 409
    assert BureauStep.get().state == "waiting" and User.get_by_id(user.id).company_id == own.id


def test_a_card_asking_for_authentication_sends_the_bureau_through_the_hosted_confirmation(market):
    listing, plan, _buyer = make_shop(market)
    user, own, (one, _two, _three) = bureau_with_clients()
    http = market.login(user.email)
    market.post(http, f"/apps/{listing.slug}/clients",
                {"clients": [one.public_id], "plan": str(plan.id), "company": own.public_id,
                 "payer-" + one.public_id: "bureau"})
    save_card(market, http, card="4000 0027 6000 3184")  # asks for authentication on every payment
    sent = next_client(market, http)
    assert sent.status_code == 303 and sent.headers["Location"].startswith(market.sandbox.url + "/i/")
    market.settle()
    assert states(http, market) == {one.public_id: "needs_you"}
    assert not Subscription.select().where(Subscription.company == one.id,
                                           Subscription.status.in_(Subscription.ENTITLING_STATUSES)).exists()
    progress = http.get(market.url + "/bureau/progress", timeout=10).text
    assert f'href="{sent.headers["Location"]}"' in progress  # the way back to the confirmation
    hosted = http.get(sent.headers["Location"], timeout=10)
    assert "Complete authentication" in hosted.text
    confirmed = http.post(sent.headers["Location"] + "/pay", data={"action": "authenticate"}, timeout=30,
                          allow_redirects=False)
    assert confirmed.status_code == 303
    market.settle()
    assert states(http, market) == {one.public_id: "done"}
    sub = Subscription.get(Subscription.company == one.id, Subscription.status == "active")
    assert LedgerEntry.get(LedgerEntry.subscription == sub.id).company_id == one.id


def test_a_forged_card_return_or_a_member_of_the_bureau_saves_nothing(market):
    listing, plan, _buyer = make_shop(market)
    user, own, (one, _two, _three) = bureau_with_clients()
    http = market.login(user.email)
    for forged in ("cs_test_forged", "not-a-session", "x" * 500):
        answer = http.get(market.url + f"/bureau/card/saved?session_id={forged}", timeout=10, allow_redirects=False)
        assert answer.status_code == 404
    # Another customer's completed setup session is not this bureau's card.
    stripe = gateway.stripe_client(market.app.config)
    other = stripe.v1.customers.create({"email": "someone@example.test"})
    session = stripe.v1.checkout.sessions.create({
        "mode": "setup", "customer": other.id, "currency": "sek", "success_url": "http://x.test/ok",
        "metadata": {"company_id": str(own.id)}})
    market.sandbox.pay_checkout(session.id)
    answer = http.get(market.url + f"/bureau/card/saved?session_id={session.id}", timeout=10, allow_redirects=False)
    assert answer.status_code == 404
    assert not BureauCard.select().exists()
    # A member of the bureau (not an admin) cannot spend or save its card.
    Membership.update(role="member").where(Membership.user == user.id, Membership.company == own.id).execute()
    User.update(company_role="member").where(User.id == user.id).execute()
    refused = market.post(http, f"/apps/{listing.slug}/clients",
                          {"clients": [one.public_id], "plan": str(plan.id), "company": own.public_id,
                           "payer-" + one.public_id: "bureau"})
    assert refused.status_code == 403 and not BureauStep.select().exists()
    assert market.post(http, "/bureau/card", {"company": own.public_id}).status_code == 403
