"""A market people can walk (issue P): the account menu on every logged-in page, pages that know
their reader, status sentences with badges, and a question before every action that cannot be
undone or costs money, while each action still acts on a single POST."""
import datetime
import html as html_text
import re

import pytest

from market.billing import refunds as money_back
from market.core import money
from models import App, Connection, LedgerEntry, OutboxMail, PendingPlanChange, Plan, Subscription, utcnow
from tests import factories
from tests.english import day


def html_of(response):
    return response.get_data(as_text=True)


def header_of(html):
    """The page's <header> (the site's, before <main>)."""
    start = html.index('<header class="site-header">')
    end = html.index("</header>", start)
    assert end < html.index("<main"), "the menu sits before <main>"
    return html[start:end]


def forms_posting_to(html, action):
    return re.findall(rf'<form method="post" action="{re.escape(action)}"[^>]*>(.*?)</form>', html, re.S)


def company_with_admin(name="Demo Bygg AB", admin_name="Anna Admin"):
    company = factories.company(name=name)
    admin = factories.customer_admin(email=f"admin{company.id}@example.test", company_obj=company, name=admin_name)
    return company, admin


def member_of(company, email="member@example.test"):
    return factories.user(email=email, company=company, company_role="member", name="Maja Medlem")


# ---------------------------------------------------------------------------- the account menu
COMPANY_LINKS = ('href="/account/apps"', 'href="/account/connections"', 'href="/account/members"', 'href="/account"')


def test_company_menu_on_every_page_type_of_a_company_user(client, auth):
    company, admin = company_with_admin()
    paid = factories.app_listing(price_ore=19900, slug="paid-app", name="Paid App")
    factories.subscription(company, paid)
    auth.login(admin.email)
    pages = ["/", "/apps", "/apps/paid-app", "/recommended", "/account/apps", "/account/connections",
             "/account/members", "/account", "/account/password", "/account/apps/paid-app/cancel",
             "/apps/no-such-app"]
    for path in pages:
        response = client.get(path)
        assert response.status_code in (200, 404), path
        header = header_of(html_of(response))
        assert "<summary>Demo Bygg AB</summary>" in header, path
        for link in COMPANY_LINKS:
            assert link in header, (path, link)
        assert forms_posting_to(header, "/account/billing-portal"), path
        assert forms_posting_to(header, "/logout"), path


def test_a_member_has_the_menu_too_without_billing(client, auth):
    company, _ = company_with_admin()
    member = member_of(company)
    auth.login(member.email)
    header = header_of(html_of(client.get("/account/connections")))
    assert "<summary>Demo Bygg AB</summary>" in header
    for link in COMPANY_LINKS:
        assert link in header
    assert not forms_posting_to(header, "/account/billing-portal")  # only admins manage billing


def test_developers_and_admins_get_their_own_menus(client, auth):
    developer = factories.developer(name="Vendor Menu AB")
    dev = factories.developer_user(email="dev@example.test", developer_obj=developer)
    auth.login(dev.email)
    for path in ("/developer", "/developer/apps", "/developer/payouts", "/"):
        header = header_of(html_of(client.get(path)))
        assert 'data-menu="developer"' in header and "Vendor Menu AB" in header, path
        assert 'href="/developer/apps"' in header and 'href="/developer/payouts"' in header
        assert 'data-menu="company"' not in header and forms_posting_to(header, "/logout")
    auth.logout()
    factories.user(email="root@example.test", is_platform_admin=True)
    auth.login("root@example.test")
    for path in ("/admin", "/admin/apps", "/admin/refunds", "/admin/review"):
        header = header_of(html_of(client.get(path)))
        assert 'data-menu="admin"' in header and 'href="/admin/refunds"' in header, path
        assert forms_posting_to(header, "/logout")


def test_visitors_have_no_account_menu(client):
    header = header_of(html_of(client.get("/apps")))
    assert "account-menu" not in header and 'href="/login"' in header


def test_my_apps_and_connected_apps_link_to_each_other(client, auth):
    _, admin = company_with_admin()
    auth.login(admin.email)
    my_apps = html_of(client.get("/account/apps"))
    connections = html_of(client.get("/account/connections"))
    main_of = lambda html: html.split("<main", 1)[1]  # noqa: E731 (outside the menu)
    assert 'href="/account/connections"' in main_of(my_apps)
    assert 'href="/account/apps"' in main_of(connections)


# ---------------------------------------------------------------------------- the app page
def test_an_owned_app_says_so_instead_of_buy(client, auth):
    company, admin = company_with_admin()
    listing = factories.app_listing(price_ore=19900, slug="owned-app", name="Owned App")
    plus = Plan.create(app=listing, name="Plus", price_ore=29900, position=2)
    factories.subscription(company, listing, plan=plus, price_ore=29900)
    auth.login(admin.email)
    page = html_of(client.get("/apps/owned-app"))
    assert re.search(r'Your company has Plus · <a href="/account/apps">Manage</a>', page)
    assert not forms_posting_to(page, "/apps/owned-app/buy")
    assert re.search(r">Activate</button>", "".join(forms_posting_to(page, "/apps/owned-app/activate")))
    factories.connection(company, listing)
    page = html_of(client.get("/apps/owned-app"))
    assert re.search(r">Open</button>", "".join(forms_posting_to(page, "/apps/owned-app/activate")))


def test_a_member_is_told_to_ask_an_admin_and_gets_no_buy_or_activate_form(client, auth):
    company, _ = company_with_admin(admin_name="Anna Admin")
    member = member_of(company)
    factories.app_listing(price_ore=19900, slug="paid-app")
    factories.app_listing(slug="free-app")
    auth.login(member.email)
    paid = html_of(client.get("/apps/paid-app"))
    assert "Ask an admin (Anna Admin)" in paid
    assert not forms_posting_to(paid, "/apps/paid-app/buy") and ">Buy<" not in paid
    free = html_of(client.get("/apps/free-app"))
    assert "Ask an admin (Anna Admin)" in free and not forms_posting_to(free, "/apps/free-app/activate")


def test_a_trial_plan_offers_its_trial_and_every_price_shows_moms_beside_it(client, auth):
    _, admin = company_with_admin()
    listing = factories.app_listing(price_ore=19900, slug="trial-app")
    Plan.update(trial_days=14).where(Plan.app == listing).execute()
    Plan.create(app=listing, name="Plus", price_ore=4950, position=2)
    auth.login(admin.email)
    page = html_of(client.get("/apps/trial-app"))
    buttons = re.findall(r'<button type="submit" class="button-primary">([^<]*)</button>',
                         "".join(forms_posting_to(page, "/apps/trial-app/buy")))
    assert buttons == ["Start 14-day free trial", "Buy"]
    gross = money.format_kr(money.with_moms(19900, 25), "en")
    assert "199 kr/month excl. VAT" in page and f"{gross}/month incl. VAT" in page  # 248.75 kr
    assert "61.88 kr/month incl. VAT" in page  # 49.50 kr + 25 %, rounded half up
    # The plans and the call to action come before the description and the reviews.
    assert page.index('id="pricing-heading"') < page.index('id="about-heading"') < page.index('id="reviews"')
    # A visitor is sent to log in, with the same words.
    auth.logout()
    visitor = html_of(client.get("/apps/trial-app"))
    assert '<a class="button button-primary" href="/login?next=/apps/trial-app">Start 14-day free trial</a>' in visitor


# ---------------------------------------------------------------------------- My apps' rows
def test_my_apps_offers_open_for_a_connected_app_and_activate_otherwise(client, auth):
    company, admin = company_with_admin()
    connected = factories.app_listing(slug="connected-app")
    factories.connection(company, connected)
    paid = factories.app_listing(price_ore=19900, slug="paid-app")
    end = utcnow() + datetime.timedelta(days=9)
    factories.subscription(company, paid, status="trialing", trial_end=end, current_period_end=end)
    auth.login(admin.email)
    page = html_of(client.get("/account/apps"))
    assert re.search(r">Open</button>", "".join(forms_posting_to(page, "/apps/connected-app/activate")))
    assert re.search(r">Activate</button>", "".join(forms_posting_to(page, "/apps/paid-app/activate")))
    assert 'href="/apps/connected-app/activate"' not in page  # never a plain link
    row = page.split('<tr data-app="paid-app">')[1].split("</tr>")[0]
    assert (f'<span class="badge badge-info">Trial</span> <span class="status-text">Trial until {day(end)}.</span>'
            in row)
    assert "trial ends on" not in page and "Your subscription is" not in page


def test_a_member_sees_my_apps_without_action_forms(client, auth):
    company, _ = company_with_admin()
    factories.connection(company, factories.app_listing(slug="connected-app"))
    auth.login(member_of(company).email)
    page = html_of(client.get("/account/apps"))
    assert not forms_posting_to(page, "/apps/connected-app/activate") and "Ask an admin" in page


# ---------------------------------------------------------------------------- questions first
def one_question(html, action):
    """The confirmation's form: it posts to the action with no `confirm` field, and its one
    primary button is the only primary button of the question."""
    question = html.split('class="confirm', 1)[1]
    forms = forms_posting_to(question, action)
    assert len(forms) == 1, forms
    assert 'name="csrf_token"' in forms[0] and 'name="confirm"' not in forms[0]
    assert question.count("button-primary") == 1
    return html_text.unescape(question)


def paid_company_app(status="active", **fields):
    company, admin = company_with_admin()
    listing = factories.app_listing(price_ore=19900, slug="paid-app", name="Paid App")
    now = utcnow()
    fields.setdefault("current_period_start", now - datetime.timedelta(days=10))
    fields.setdefault("current_period_end", now + datetime.timedelta(days=20))
    sub = factories.subscription(company, listing, status=status, plan=Plan.get(Plan.app == listing), **fields)
    return company, admin, listing, sub


@pytest.mark.parametrize("kind", ["active", "trialing"])
def test_cancel_asks_first_and_speaks_of_the_trial_in_a_trial(client, auth, kind):
    _, admin, _, sub = paid_company_app(kind, trial_end=utcnow() + datetime.timedelta(days=5))
    auth.login(admin.email)
    my_apps = html_of(client.get("/account/apps"))
    assert 'href="/account/apps/paid-app/cancel"' in my_apps and not forms_posting_to(my_apps, "/account/apps/paid-app/cancel")
    page = client.get("/account/apps/paid-app/cancel")
    assert page.status_code == 200
    question = one_question(html_of(page), "/account/apps/paid-app/cancel")
    if kind == "trialing":
        assert "paid period" not in question and "period you paid for" not in question
        assert f"The trial ends on {day(sub.trial_end)}" in question and "Nothing is charged" in question
    else:
        assert f"until the end of the period you paid for, {day(sub.current_period_end)}" in question
    # In place with htmx: the question only, no page around it.
    fragment = html_of(client.get("/account/apps/paid-app/cancel", headers={"HX-Request": "true"}))
    assert "<html" not in fragment and "<h2" in fragment
    one_question(fragment, "/account/apps/paid-app/cancel")
    assert Subscription.get_by_id(sub.id).cancel_at_period_end is False  # asking changed nothing
    # The POST alone acts: csrf_token and nothing else.
    response = auth.post("/account/apps/paid-app/cancel")
    assert response.status_code == 303 and Subscription.get_by_id(sub.id).cancel_at_period_end is True
    flashed = html_of(client.get("/account/apps"))
    if kind == "trialing":
        assert "paid period" not in flashed and "nothing will be charged" in flashed


def test_remove_asks_first_then_a_single_post_removes(client, auth):
    company, admin, listing, sub = paid_company_app()
    factories.connection(company, listing)
    auth.login(admin.email)
    question = one_question(html_of(client.get("/account/apps/paid-app/remove")), "/account/apps/paid-app/remove")
    assert "loses access to your company's data at once" in question
    assert Connection.get().revoked_at is None
    assert auth.post("/account/apps/paid-app/remove").status_code == 303
    assert Connection.get().revoked_at is not None and Subscription.get_by_id(sub.id).cancel_at_period_end


def test_an_upgrade_says_its_prorated_amount_and_a_trial_upgrade_charges_nothing(client, auth):
    _, admin, listing, sub = paid_company_app(stripe_subscription_id="sub_upgrade", imported=False)
    plus = Plan.create(app=listing, name="Plus", price_ore=29900, position=2)
    auth.login(admin.email)
    # My apps' plan form asks (a GET to the same path) rather than posting.
    my_apps = html_of(client.get("/account/apps"))
    assert re.search(r'<form method="get" action="/account/apps/paid-app/plan"', my_apps)
    question = one_question(html_of(client.get(f"/account/apps/paid-app/plan?plan={plus.id}")),
                            "/account/apps/paid-app/plan")
    assert f'name="plan" value="{plus.id}"' in question
    # 100 kr a month more, for 20 of the period's 30 days: 66,67 kr + 25 % moms.
    assert "About 83.34 kr incl. VAT now" in question
    Subscription.update(status="trialing", trial_end=sub.current_period_end).where(Subscription.id == sub.id).execute()
    trial = one_question(html_of(client.get(f"/account/apps/paid-app/plan?plan={plus.id}")), "/account/apps/paid-app/plan")
    assert "nothing is charged now" in trial and "charged at once" not in trial and "About" not in trial
    assert client.get("/account/apps/paid-app/plan?plan=nope").status_code == 400
    assert PendingPlanChange.select().count() == 0


def test_a_downgrade_asks_then_a_single_post_schedules_it_and_undo_posts_alone(client, auth):
    _, admin, listing, sub = paid_company_app(stripe_subscription_id="sub_down", imported=False)
    # Its Stripe price exists already: the downgrade stores it as the price agreed (issue N).
    cheap = Plan.create(app=listing, name="Mini", price_ore=9900, position=2, stripe_price_id="price_mini")
    auth.login(admin.email)
    question = one_question(html_of(client.get(f"/account/apps/paid-app/plan?plan={cheap.id}")),
                            "/account/apps/paid-app/plan")
    assert f"on {day(sub.current_period_end)}" in question and "123.75 kr incl. VAT a month" in question
    assert auth.post("/account/apps/paid-app/plan", {"plan": cheap.id}).status_code == 303
    assert PendingPlanChange.get().plan_id == cheap.id
    assert auth.post("/account/apps/paid-app/plan/undo").status_code == 303
    assert PendingPlanChange.select().count() == 0


def test_revoke_asks_first_then_a_single_post_revokes(client, auth):
    company, admin = company_with_admin()
    listing = factories.app_listing(slug="linked-app", name="Linked App")
    factories.connection(company, listing)
    auth.login(admin.email)
    page = html_of(client.get("/account/connections"))
    assert 'href="/account/connections/linked-app/revoke"' in page
    question = one_question(html_of(client.get("/account/connections/linked-app/revoke")),
                            "/account/connections/linked-app/revoke")
    assert "Linked App" in question and Connection.get().revoked_at is None
    assert client.get("/account/connections/other-app/revoke").status_code == 404
    assert auth.post("/account/connections/linked-app/revoke").status_code == 303
    assert Connection.get().revoked_at is not None


def test_members_cannot_reach_the_questions(client, auth):
    company, _, _, _ = paid_company_app()
    auth.login(member_of(company).email)
    for path in ("/account/apps/paid-app/cancel", "/account/apps/paid-app/remove", "/account/apps/paid-app/plan"):
        assert client.get(path).status_code == 403, path
    auth.logout()
    assert client.get("/account/apps/paid-app/cancel").status_code == 303  # a visitor logs in first


def test_suspend_asks_for_the_reason_then_a_single_post_suspends(client, auth):
    listing = factories.app_listing(slug="live-app", name="Live App")
    factories.developer_user(email="maker@example.test", developer_obj=listing.developer)
    factories.user(email="root@example.test", is_platform_admin=True)
    auth.login("root@example.test")
    assert 'href="/admin/apps/live-app/suspend"' in html_of(client.get("/admin/apps"))
    question = one_question(html_of(client.get("/admin/apps/live-app/suspend")), "/admin/apps/live-app/suspend")
    assert '<textarea id="confirm-reason" name="reason"' in question and "sent to the developer" in question
    assert App.get(App.slug == "live-app").status == "published"
    assert auth.post("/admin/apps/live-app/suspend", {"reason": "Broken landing page"}).status_code == 303
    assert App.get(App.slug == "live-app").status == "suspended"
    # The developer is sent the reason.
    told = OutboxMail.select().where(OutboxMail.to == "maker@example.test")
    assert [m.subject for m in told] == ["Live App is suspended in the App Market"]
    assert "Reason: Broken landing page" in told[0].body
    assert client.get("/admin/apps/live-app/suspend").status_code == 409  # no longer published


def test_refund_asks_with_the_amount_then_a_single_post_refunds(client, auth, monkeypatch):
    company = factories.company(name="Kund AB")
    payment = factories.ledger_entry(factories.app_listing(price_ore=19900, name="Paid App"), company_obj=company)
    factories.user(email="root@example.test", is_platform_admin=True)
    auth.login("root@example.test")
    listing_page = html_of(client.get("/admin/refunds"))
    assert re.search(r'<form method="get" action="/admin/refunds" class="refund-form"', listing_page)
    page = client.get(f"/admin/refunds?payment={payment.id}&amount=100&reason=Double+charge")
    question = one_question(html_of(page), "/admin/refunds")
    assert "Refund 100 kr?" in question and "Kund AB" in question and "Reason: Double charge" in question
    assert f'name="payment" value="{payment.id}"' in question and 'name="amount" value="100"' in question
    assert client.get(f"/admin/refunds?payment={payment.id}&amount=9999&reason=x").status_code == 400
    assert client.get("/admin/refunds?payment=0&reason=x").status_code == 404
    assert LedgerEntry.select().count() == 1  # asking refunded nothing
    called = []

    def refund(config, payment_id, amount, reason):
        called.append((payment_id, amount, reason))
        return LedgerEntry(gross_ore=-10000)
    monkeypatch.setattr(money_back, "refund", refund)
    response = auth.post("/admin/refunds", {"payment": payment.id, "amount": "100", "reason": "Double charge"})
    assert response.status_code == 303 and called == [(str(payment.id), "100", "Double charge")]


def test_buttons_have_primary_secondary_and_danger_styles(client, auth):
    company, admin, listing, _ = paid_company_app(cancel_at_period_end=False)
    factories.connection(company, listing)
    auth.login(admin.email)
    page = html_of(client.get("/account/apps"))
    row = page.split('<tr data-app="paid-app">')[1].split("</tr>")[0]
    assert re.search(r'class="button button-danger" href="/account/apps/paid-app/cancel"', row)
    assert re.search(r'class="button button-danger" href="/account/apps/paid-app/remove"', row)
    assert re.search(r'<button type="submit" class="button-primary">Open</button>', row)
    connections = html_of(client.get("/account/connections"))
    assert re.search(r'class="button button-danger" href="/account/connections/paid-app/revoke"', connections)
