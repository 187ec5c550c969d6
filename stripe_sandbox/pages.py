"""Hosted pages a person uses in a browser: Checkout, Connect onboarding, the Express dashboard,
the billing portal and the hosted invoice. Plain server-rendered HTML forms, no JavaScript, each
page one <h1> and a <label> on every field. The browser session is the `sandbox_session` cookie
(the market and the sample integration use other names on the same host)."""

import html
import re
from datetime import UTC, datetime

from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from . import cards
from .api import check_card
from .engine import token
from .errors import StripeError
from .words import ENGLISH, language, word
from .words import money as money_in

COOKIE = "sandbox_session"

ROUTES = [
    (["GET"], "/", "index"),
    (["GET", "POST"], "/c/pay/<id>", "checkout"),
    (["POST"], "/c/pay/<id>/confirm", "checkout_confirm"),
    (["GET", "POST"], "/connect/onboarding/<tok>", "onboarding"),
    (["GET"], "/express/<tok>", "express"),
    (["GET"], "/p/session/<tok>", "portal"),
    (["POST"], "/p/session/<tok>/card", "portal_card"),
    (["POST"], "/p/session/<tok>/subscriptions/<sub>/<action>", "portal_subscription"),
    (["GET"], "/i/<tok>", "invoice"),
    (["POST"], "/i/<tok>/pay", "invoice_pay"),
    (["GET"], "/i/<tok>/receipt", "receipt"),
]

STYLE = """
body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
label{display:block;margin:.6rem 0 .2rem;font-weight:600}
input[type=text],input[type=email],input[type=url],input[type=tel]{width:100%;padding:.5rem;font-size:1rem;
box-sizing:border-box}
button{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem}
.error{color:#b00020;font-weight:600}.muted{color:#555}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem;border-bottom:1px solid #ddd}
td.num,th.num{text-align:right}.badge{font-size:.8rem;background:#eee;padding:.1rem .4rem}
@media print{form,.noprint{display:none}}
"""


def e(value):
    return html.escape("" if value is None else str(value))


def money(ore, currency="sek"):
    """An amount on the pages that speak Swedish only (Connect, the invoice): "1 234,50 kr"."""
    sign = "-" if ore < 0 else ""
    ore = abs(ore)
    whole = f"{ore // 100:,}".replace(",", "\u00a0")
    unit = "kr" if currency == "sek" else currency.upper()
    return f"{sign}{whole},{ore % 100:02d} {unit}"


def date(ts):
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d") if ts else ""


def page(title, body, status=200, cookie=None, request=None, lang=ENGLISH):
    """One hosted page; `title` and `body` already in `lang` (Checkout and the portal follow
    their session's locale, the other pages are English)."""
    doc = (f'<!doctype html><html lang="{e(lang)}"><head><meta charset="utf-8">'
           f'<meta name="viewport" content="width=device-width, initial-scale=1">'
           f"<title>{e(title)} · {e(word(lang, 'Stripe sandbox'))}</title><style>{STYLE}</style></head>"
           f'<body><main><h1>{e(title)}</h1>{body}</main>'
           f'<p class="muted noprint">{e(word(lang, "Stripe sandbox (test mode)"))}</p></body></html>')
    resp = Response(doc, status=status, content_type="text/html; charset=utf-8")
    resp.headers["Cache-Control"] = "no-store"
    if request is not None and not request.cookies.get(COOKIE):
        resp.set_cookie(COOKIE, cookie or token(24), httponly=True, samesite="Lax")
    return resp


def handle(sandbox, request, name, args):
    with sandbox.engine.lock:
        sandbox.engine.run_due()  # a session or link whose time is up must look expired
    return globals()["page_" + name](sandbox, request, **args)


def card_fields(values=None, prefix="", lang=ENGLISH):
    v = values or {}
    return (f'<label for="card_number">{e(word(lang, "Card number"))}</label>'
            f'<input type="text" id="card_number" name="card_number" inputmode="numeric" '
            f'autocomplete="cc-number" value="{e(v.get("card_number"))}" required>'
            f'<label for="exp">{e(word(lang, "Expiry (MM/YY)"))}</label>'
            f'<input type="text" id="exp" name="exp" placeholder="{e(word(lang, "MM/YY"))}" autocomplete="cc-exp" '
            f'value="{e(v.get("exp"))}" required>'
            f'<label for="cvc">{e(word(lang, "CVC"))}</label>'
            f'<input type="text" id="cvc" name="cvc" inputmode="numeric" autocomplete="cc-csc" '
            f'value="{e(v.get("cvc"))}" required>'
            f'<label for="name">{e(word(lang, "Name on card"))}</label>'
            f'<input type="text" id="name" name="name" autocomplete="cc-name" value="{e(v.get("name"))}" required>')


def parse_card(form, now):
    """The card fields of a hosted form: returns (number, month, year, cvc, name) or raises."""
    number = cards.clean(form.get("card_number", ""))
    exp = (form.get("exp") or "").replace(" ", "")
    m = re.fullmatch(r"(\d{1,2})/(\d{2}|\d{4})", exp)
    if not m:
        raise StripeError(402, "Your card's expiration date is incomplete.", type="card_error",
                          code="invalid_expiry_month", param="exp")
    month, year = int(m.group(1)), int(m.group(2))
    cvc = (form.get("cvc") or "").strip()
    name = (form.get("name") or "").strip()
    if not number:
        raise StripeError(402, "Your card number is incomplete.", type="card_error", code="incorrect_number",
                          param="card_number")
    year = check_card(number, month, year, cvc, now)
    if not name:
        raise StripeError(402, "Enter the name on the card.", type="card_error", param="name")
    return number, month, year, cvc, name


# ---------------------------------------------------------------------- checkout
def period(lang, recurring):
    """"month", "3 months" in the reader's language."""
    interval, count = recurring["interval"], recurring["interval_count"]
    if count == 1:
        return word(lang, interval)
    return word(lang, f"%(count)s {interval}s", count=count)


def session_summary(engine, session, lang=ENGLISH):
    def kr(ore):
        return money_in(ore, lang)

    rows, subtotal, taxes = [], 0, {}
    for li in session["_line_items"]:
        price = engine.objects[li["price"]]
        product = engine.objects[price["product"]]
        every = period(lang, price["recurring"])
        amount = price["unit_amount"] * li["quantity"]
        subtotal += amount
        each = word(lang, "%(count)s × %(price)s / %(every)s", count=li["quantity"], price=kr(price["unit_amount"]),
                   every=every)
        rows.append(f'<tr><td>{e(product["name"])}<br><span class="muted">{e(product["description"])}</span>'
                    f'</td><td class="num">{e(each)}</td>'
                    f'<td class="num">{kr(amount)}</td></tr>')
        for t in engine.line_tax(amount, li["tax_rates"]):
            rate = engine.objects[t["tax_rate_details"]["tax_rate"]]
            label = word(lang, "%(name)s %(percent)s %% (incl.)" if rate["inclusive"] else "%(name)s %(percent)s %%",
                        name=rate["display_name"], percent=f'{rate["percentage"]:g}')
            taxes[label] = taxes.get(label, 0) + t["amount"]
    exclusive = sum(t["amount"] for li in session["_line_items"]
                    for t in engine.line_tax(engine.objects[li["price"]]["unit_amount"] * li["quantity"],
                                             li["tax_rates"]) if t["tax_behavior"] == "exclusive")
    rows.append(f'<tr><th>{e(word(lang, "Subtotal (excl. moms)"))}</th><td></td>'
                f'<td class="num">{kr(subtotal)}</td></tr>')
    for label, amount in taxes.items():
        rows.append(f'<tr><td>{e(label)}</td><td></td><td class="num">{kr(amount)}</td></tr>')
    per = period(lang, engine.objects[session["_line_items"][0]["price"]]["recurring"])
    rows.append(f'<tr><th>{e(word(lang, "Total per %(period)s", period=per))}</th><td></td>'
                f'<th class="num">{kr(subtotal + exclusive)}</th></tr>')
    trial = session["_trial_days"]
    trial_html = ""
    if trial or session["_trial_end"]:
        days = trial or max(1, (session["_trial_end"] - engine.now()) // 86400)
        trial_html = (f'<p><strong>{e(word(lang, "%(days)s days free trial", days=days))}</strong>'
                      f'{e(word(lang, ", then %(amount)s per %(period)s. Due today: %(today)s.", amount=kr(subtotal + exclusive), period=per, today=kr(0)))}</p>')
    return f'<table aria-label="{e(word(lang, "Order summary"))}">{"".join(rows)}</table>{trial_html}'


def checkout_form(sandbox, request, session, error=None, values=None, status=200):
    engine = sandbox.engine
    lang = language(session.get("locale"))
    with engine.lock:
        summary = session_summary(engine, session, lang) if session["mode"] != "setup" else ""
        email = session["customer_email"] or (engine.objects[session["customer"]]["email"]
                                               if session["customer"] else None)
    # The errors are the API's English messages, shown in the page's language.
    err = f'<p class="error" role="alert">{e(word(lang, error))}</p>' if error else ""
    cancel = (f'<p><a href="{e(session["cancel_url"])}">{e(word(lang, "Cancel and go back"))}</a></p>'
              if session["cancel_url"] else "")
    who = f'<p class="muted">{e(word(lang, "Paying as %(email)s", email=email))}</p>' if email else ""
    # without a customer or customer_email, Checkout asks for the buyer's email
    ask = "" if email else (f'<label for="email">{e(word(lang, "Email"))}</label><input type="email" id="email" '
                            f'name="email" autocomplete="email" value="{e((values or {}).get("email"))}" required>')
    if session["mode"] == "setup":
        # Nothing is charged: the card is saved for the payments the business makes later.
        body = (f"<p>{e(word(lang, 'Save a card for future payments. Nothing is charged now.'))}</p>{who}{err}"
                f"<form method=post action=\"/c/pay/{e(session['id'])}\">"
                f"{ask}{card_fields(values, lang=lang)}<button type=submit>{e(word(lang, 'Save card'))}</button>"
                f"</form>{cancel}")
        return page(word(lang, "Save card"), body, status=status, request=request, lang=lang)
    body = (f"{summary}{who}{err}<form method=post action=\"/c/pay/{e(session['id'])}\">"
            f"{ask}{card_fields(values, lang=lang)}<button type=submit>{e(word(lang, 'Subscribe'))}</button>"
            f"</form>{cancel}")
    return page(word(lang, "Subscribe"), body, status=status, request=request, lang=lang)


def pay_session(sandbox, session_id, form, confirm_3ds=False):
    """Validate the card and complete the session. Returns {"error"}, {"needs_confirm"} or
    {"redirect", "session"}."""
    engine = sandbox.engine
    with engine.lock:
        # looked up again under the lock: a rolled-back API request may have replaced the objects
        session = engine.objects.get(session_id)
        if session is None or session["object"] != "checkout.session" or session["status"] != "open":
            return {"error": "This Checkout Session is no longer available."}
        try:
            number, month, year, cvc, name = parse_card(form, engine.now())
        except StripeError as err:
            return {"error": err.body["message"]}
        email = (form.get("email") or "").strip()
        if not (session["customer"] or session["customer_email"]) and not re.fullmatch(r"[^@\s]+@[^@\s]+", email):
            return {"error": "Enter a valid email address."}
        behavior = cards.describe(number)["behavior"]
        # the first payment is taken now unless there is a trial, so a failing card is refused here
        trial = session["_trial_days"] or session["_trial_end"] or session["mode"] == "setup"
        if behavior == "decline" or (behavior == "fail" and not trial):
            return {"error": "Your card was declined."}
        if behavior in ("3ds", "authenticate") and not confirm_3ds:
            return {"needs_confirm": True}
        customer = engine.objects.get(session["customer"]) if session["customer"] else None
        pm = engine.card_payment_method(number, month, year, cvc, name=name, account=session.get("_account"),
                                        clock_id=engine.clock_of(customer))
        if behavior == "3ds":
            pm["_behavior"] = "succeed"  # authenticated once, then usable off-session
        engine._request = {"id": None, "idempotency_key": None}
        try:
            if session["mode"] == "setup":
                engine.complete_setup(session, pm, name=name, email=form.get("email") or None)
            else:
                engine.complete_checkout(session, pm, name=name, email=form.get("email") or None)
        finally:
            engine._request = None
        engine.mark_dirty()
        url = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        return {"redirect": url, "session": session["id"]}


def page_checkout(sandbox, request, id):
    engine = sandbox.engine
    with engine.lock:
        session = engine.objects.get(id)
        if not session or session["object"] != "checkout.session":
            # No session, no locale: the market's first language.
            lang = language(None)
            return page(word(lang, "Checkout not found"), f"<p>{e(word(lang, 'This link is not valid.'))}</p>",
                        status=404, request=request, lang=lang)
        lang = language(session.get("locale"))
        if session["status"] != "open":
            text = word(lang, "This Checkout Session is complete." if session["status"] == "complete"
                       else "This Checkout Session has expired.")
            link = (f'<p><a href="{e(session["cancel_url"])}">{e(word(lang, "Go back"))}</a></p>'
                    if session["cancel_url"] else "")
            return page(word(lang, "Checkout unavailable"), f"<p>{e(text)}</p>{link}", status=410, request=request,
                        lang=lang)
    if request.method == "GET":
        return checkout_form(sandbox, request, session)
    form = request.form
    outcome = pay_session(sandbox, id, form)
    values = {k: form.get(k, "") for k in ("card_number", "exp", "cvc", "name", "email")}
    if outcome.get("error"):
        return checkout_form(sandbox, request, session, outcome["error"], values, status=402)
    if outcome.get("needs_confirm"):
        cookie = request.cookies.get(COOKIE) or token(24)
        sandbox.pending_3ds[(cookie, id)] = values
        body = (f'<p>{e(word(lang, "Your bank asks you to confirm this payment (3D Secure test page)."))}</p>'
                f'<form method=post action="/c/pay/{e(id)}/confirm">'
                f'<button type=submit name=action value=complete>{e(word(lang, "Complete authentication"))}'
                f'</button> <button type=submit name=action value=fail>{e(word(lang, "Fail authentication"))}'
                f'</button></form>')
        resp = page(word(lang, "Confirm your payment"), body, request=request, cookie=cookie, lang=lang)
        return resp
    return redirect(outcome["redirect"], code=303)


def page_checkout_confirm(sandbox, request, id):
    cookie = request.cookies.get(COOKIE)
    pending = sandbox.pending_3ds.pop((cookie, id), None)
    with sandbox.engine.lock:
        session = sandbox.engine.objects.get(id)
    lang = language(session.get("locale") if session else None)
    if not pending or not session or session.get("object") != "checkout.session":
        link = f'<a href="/c/pay/{e(id)}">{e(word(lang, "back to checkout"))}</a>'
        return page(word(lang, "Confirmation expired"), f'<p>{word(lang, "Start again: %(link)s.", link=link)}</p>',
                    status=400, request=request, lang=lang)
    if request.form.get("action") != "complete":
        return checkout_form(sandbox, request, session, "We are unable to authenticate your payment method. "
                             "Please choose a different payment method and try again.", status=402)
    outcome = pay_session(sandbox, id, pending, confirm_3ds=True)
    if outcome.get("error"):
        return checkout_form(sandbox, request, session, outcome["error"], pending, status=402)
    return redirect(outcome["redirect"], code=303)


# ---------------------------------------------------------------------- Connect
def page_onboarding(sandbox, request, tok):
    engine = sandbox.engine
    with engine.lock:
        link = engine.tokens.get(tok)
        if not link or link["kind"] != "onboarding":
            return page("Link not valid", "<p>This onboarding link is not valid.</p>", status=404, request=request)
        if engine.now() > link["expires_at"] or link.get("used"):
            return redirect(link["refresh_url"], code=303)
        acct = engine.objects[link["account"]]
        if request.method == "POST":
            f = request.form
            missing = [label for key, label in (("business_name", "Business name"), ("url", "Website"),
                                                ("support_phone", "Support phone"), ("iban", "IBAN"))
                       if not f.get(key, "").strip()]
            if not f.get("tos"):
                missing.append("Stripe Services Agreement")
            if missing:
                return onboarding_form(request, acct, tok, dict(f), f"Please fill in: {', '.join(missing)}.")
            engine._request = {"id": None, "idempotency_key": None}
            try:
                engine.complete_onboarding(acct, engine.onboarding_details(f))
            finally:
                engine._request = None
            link["used"] = True
            engine.mark_dirty()
            return redirect(link["return_url"], code=303)
        values = engine.onboarding_test_values(acct)
    return onboarding_form(request, acct, tok, values)


def onboarding_form(request, acct, tok, v, error=None):
    def field(key, label, kind="text"):
        return (f'<label for="{key}">{label}</label>'
                f'<input type="{kind}" id="{key}" name="{key}" value="{e(v.get(key))}" required>')
    err = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    checked = " checked" if v.get("tos") else ""
    body = (f'<p>Account <code>{e(acct["id"])}</code>. Test values are filled in: submit to finish.</p>{err}'
            f'<form method=post action="/connect/onboarding/{e(tok)}">'
            f'<label for="business_type">Business type</label><select id="business_type" name="business_type">'
            f'<option value="company">Company</option><option value="individual">Individual</option></select>'
            f'{field("business_name", "Business name")}{field("url", "Website", "url")}'
            f'{field("support_phone", "Support phone", "tel")}{field("email", "Email", "email")}'
            f'{field("product_description", "What you sell")}{field("iban", "Bank account (IBAN)")}'
            f'<label for="tos"><input type="checkbox" id="tos" name="tos" value="on"{checked}> '
            f'I accept the Stripe Connected Account Agreement</label>'
            f'<button type=submit>Submit</button></form>')
    return page("Set up payouts", body, status=400 if error else 200, request=request)


def page_express(sandbox, request, tok):
    engine = sandbox.engine
    with engine.lock:
        link = engine.tokens.get(tok)
        if not link or link["kind"] != "express":
            return page("Link not valid", "<p>This login link is not valid.</p>", status=404, request=request)
        acct = engine.objects[link["account"]]
        balance = engine.balance(acct["id"])["available"][0]["amount"]
        rows = "".join(
            f'<tr><td>{date(t["created"])}</td><td>{e(t["type"])}</td><td class="num">{money(t["net"])}</td></tr>'
            for t in engine.all("balance_transaction", acct["id"])[:50])
    body = (f'<p>{e((acct["business_profile"] or {}).get("name") or acct["id"])}</p>'
            f'<p>Balance: <strong>{money(balance)}</strong></p>'
            f'<table aria-label="Activity"><tr><th>Date</th><th>Type</th><th class="num">Amount</th></tr>'
            f'{rows}</table>')
    return page("Express dashboard", body, request=request)


# ---------------------------------------------------------------------- billing portal
def portal_context(sandbox, tok):
    link = sandbox.engine.tokens.get(tok)
    if not link or link["kind"] != "portal":
        return None, None
    return link, sandbox.engine.objects[link["customer"]]


def portal_language(link):
    """The portal follows the `locale` its session was created with (Swedish without one)."""
    return language((link or {}).get("locale"))


def portal_not_valid(request, link):
    lang = portal_language(link)
    return page(word(lang, "Link not valid"), f"<p>{e(word(lang, 'This portal link is not valid.'))}</p>",
                status=404, request=request, lang=lang)


def page_portal(sandbox, request, tok, error=None, notice=None, status=200):
    engine = sandbox.engine
    with engine.lock:
        link, customer = portal_context(sandbox, tok)
        if not link:
            return portal_not_valid(request, link)
        lang = portal_language(link)
        subs = [s for s in engine.all("subscription", link["account"]) if s["customer"] == customer["id"]]
        pm = engine.default_pm(customer)
        sub_rows = []
        for s in subs:
            items = engine.items_of(s)
            price = engine.objects[items[0]["price"]] if items else None
            product = engine.objects[price["product"]]["name"] if price else ""
            end = items[0]["current_period_end"] if items else None
            status_word = word(lang, s["status"])
            state = (word(lang, "%(status)s · ends %(date)s", status=status_word, date=date(end))
                     if s["cancel_at_period_end"] else
                     word(lang, "%(status)s · renews %(date)s", status=status_word, date=date(end))
                     if s["status"] != "canceled" else status_word)
            action = ""
            if s["status"] not in ("canceled", "incomplete_expired"):
                act, label = ("renew", "Don't cancel") if s["cancel_at_period_end"] else ("cancel", "Cancel plan")
                action = (f'<form method=post action="/p/session/{e(tok)}/subscriptions/{e(s["id"])}/{act}">'
                          f'<button type=submit>{e(word(lang, label))}</button></form>')
            amount = money_in(price["unit_amount"] * items[0]["quantity"], lang) if price else ""
            sub_rows.append(f'<tr data-subscription="{e(s["id"])}"><td>{e(product)}</td><td>{amount}</td>'
                            f'<td>{e(state)}</td><td>{action}</td></tr>')
        invoices = [i for i in engine.all("invoice", link["account"]) if i["customer"] == customer["id"]]
        inv_rows = "".join(
            f'<tr><td>{date(i["created"])}</td><td><a href="{e(i["hosted_invoice_url"])}">{e(i["number"])}</a></td>'
            f'<td class="num">{money_in(i["total"], lang)}</td><td>{e(word(lang, i["status"]))}</td></tr>'
            for i in invoices)
        card = (e(word(lang, "%(brand)s ending in %(last4)s, expires %(expiry)s", brand=pm["card"]["brand"].title(),
                      last4=pm["card"]["last4"], expiry=f'{pm["card"]["exp_month"]:02d}/{pm["card"]["exp_year"]}'))
                if pm else e(word(lang, "No card on file")))
    # The errors are the API's English messages, shown in the page's language.
    err = f'<p class="error" role="alert">{e(word(lang, error))}</p>' if error else ""
    note = f'<p role="status">{e(notice)}</p>' if notice else ""
    back = f'<p><a href="{e(link["return_url"])}">{e(word(lang, "Return"))}</a></p>' if link["return_url"] else ""
    body = (f'<p>{e(customer["name"] or "")} {e(customer["email"] or "")}</p>{note}{err}'
            f'<h2>{e(word(lang, "Subscriptions"))}</h2><table aria-label="{e(word(lang, "Subscriptions"))}">'
            f'{"".join(sub_rows)}</table>'
            f'<h2>{e(word(lang, "Payment method"))}</h2><p>{card}</p>'
            f'<form method=post action="/p/session/{e(tok)}/card">{card_fields(lang=lang)}'
            f'<button type=submit>{e(word(lang, "Update card"))}</button></form>'
            f'<h2>{e(word(lang, "Invoices"))}</h2><table aria-label="{e(word(lang, "Invoices"))}">{inv_rows}</table>'
            f'{back}')
    return page(word(lang, "Billing"), body, status=status, request=request, lang=lang)


def page_portal_card(sandbox, request, tok):
    engine = sandbox.engine
    with engine.lock:
        link, customer = portal_context(sandbox, tok)
        if not link:
            return portal_not_valid(request, link)
        try:
            number, month, year, cvc, name = parse_card(request.form, engine.now())
        except StripeError as err:
            return page_portal(sandbox, request, tok, error=err.body["message"], status=402)
        behavior = cards.describe(number)["behavior"]
        if behavior == "decline":
            return page_portal(sandbox, request, tok, error="Your card was declined.", status=402)
        pm = engine.card_payment_method(number, month, year, cvc, name=name, account=link["account"],
                                        clock_id=engine.clock_of(customer))
        if behavior == "3ds":
            pm["_behavior"] = "succeed"
        engine._request = {"id": None, "idempotency_key": None}
        try:
            engine.attach_card(pm, customer)
            before = engine.render(customer)
            customer["invoice_settings"]["default_payment_method"] = pm["id"]
            for s in engine.all("subscription", link["account"]):
                if s["customer"] == customer["id"] and s["default_payment_method"]:
                    s["default_payment_method"] = pm["id"]
            engine.emit_updated("customer.updated", customer, before)
            engine.retry_open_invoices(customer)
        finally:
            engine._request = None
        engine.mark_dirty()
    return redirect(f"/p/session/{tok}", code=303)


def page_portal_subscription(sandbox, request, tok, sub, action):
    engine = sandbox.engine
    with engine.lock:
        link, customer = portal_context(sandbox, tok)
        s = engine.objects.get(sub)
        if not link or not s or s.get("object") != "subscription" or s["customer"] != customer["id"] \
                or action not in ("cancel", "renew"):
            lang = portal_language(link)
            return page(word(lang, "Not found"), f"<p>{e(word(lang, 'Not found.'))}</p>", status=404, request=request,
                        lang=lang)
        if s["status"] != "canceled":
            before = engine.render(s)
            s["cancel_at_period_end"] = action == "cancel"
            s["cancel_at"] = engine.items_of(s)[0]["current_period_end"] if action == "cancel" else None
            s["canceled_at"] = engine.now(engine.clock_of(s)) if action == "cancel" else None
            if action == "cancel":
                s["cancellation_details"] = {"comment": None, "feedback": None,
                                             "reason": "cancellation_requested"}
            engine._request = {"id": None, "idempotency_key": None}
            try:
                engine.emit_updated("customer.subscription.updated", s, before)
            finally:
                engine._request = None
            engine.mark_dirty()
    return redirect(f"/p/session/{tok}", code=303)


# ---------------------------------------------------------------------- hosted invoice
def find_invoice(engine, tok):
    for obj in engine.objects.values():
        if obj["object"] == "invoice" and obj.get("_token") == tok:
            return obj
    return None


def invoice_body(engine, inv):
    rows = "".join(
        f'<tr><td>{e(li["description"])}<br><span class="muted">{date(li["period"]["start"])} – '
        f'{date(li["period"]["end"])}</span></td><td class="num">{money(li["amount"])}</td></tr>'
        for li in inv["lines"]["data"])
    taxes = ""
    for t in inv["total_taxes"] or []:
        rate = engine.objects[t["tax_rate_details"]["tax_rate"]]
        taxes += f'<tr><td>{e(rate["display_name"])} {rate["percentage"]:g} %</td><td class="num">' \
                 f'{money(t["amount"])}</td></tr>'
    return (f'<p>Invoice <strong>{e(inv["number"])}</strong> · {date(inv["created"])} · '
            f'<span class="badge">{e(inv["status"])}</span></p>'
            f'<p>Billed to {e(inv["customer_name"] or "")} {e(inv["customer_email"] or "")}</p>'
            f'<table aria-label="Invoice lines"><tr><th>Description</th><th class="num">Amount</th></tr>{rows}'
            f'<tr><th>Subtotal</th><td class="num">{money(inv["subtotal"])}</td></tr>{taxes}'
            f'<tr><th>Total</th><th class="num">{money(inv["total"])}</th></tr>'
            f'<tr><td>Amount paid</td><td class="num">{money(inv["amount_paid"])}</td></tr>'
            f'<tr><td>Amount due</td><td class="num">{money(inv["amount_remaining"])}</td></tr></table>')


def page_invoice(sandbox, request, tok, error=None, status=200):
    engine = sandbox.engine
    with engine.lock:
        inv = find_invoice(engine, tok)
        if inv is None:
            return page("Invoice not found", "<p>This invoice link is not valid.</p>", status=404, request=request)
        body = invoice_body(engine, inv)
        intent = engine.objects.get(inv.get("_payment_intent") or "")
        waiting = bool(intent and intent["status"] == "requires_action")
    err = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    pay = (f'{err}<form method=post action="/i/{e(tok)}/pay">{card_fields()}<button type=submit>Pay '
           f'{money(inv["amount_remaining"])}</button></form>' if inv["status"] == "open" else "")
    if waiting and inv["status"] == "open":
        # The saved card asked for authentication: the payer confirms it here (3D Secure test page).
        pay = (f'{err}<p>Your bank asks you to confirm this payment with the saved card.</p>'
               f'<form method=post action="/i/{e(tok)}/pay"><button type=submit name=action value=authenticate>'
               f'Complete authentication</button> <button type=submit name=action value=fail>Fail authentication'
               f'</button></form>{pay}')
    receipt = f'<p><a href="/i/{e(tok)}/receipt">Receipt (printable)</a></p>' if inv["status"] == "paid" else ""
    return page("Invoice", body + pay + receipt, status=status, request=request)


def page_invoice_pay(sandbox, request, tok):
    engine = sandbox.engine
    with engine.lock:
        inv = find_invoice(engine, tok)
        if inv is None:
            return page("Invoice not found", "<p>Not found.</p>", status=404, request=request)
        if inv["status"] != "open":
            return redirect(f"/i/{tok}", code=303)
        intent = engine.objects.get(inv.get("_payment_intent") or "")
        if request.form.get("action") in ("authenticate", "fail") and intent and intent["status"] == "requires_action":
            if request.form["action"] == "fail":
                return page_invoice(sandbox, request, tok, status=402, error="We are unable to authenticate your "
                                    "payment method. Please choose a different payment method and try again.")
            saved = engine.objects.get(intent.get("payment_method") or "")
            engine._request = {"id": None, "idempotency_key": None}
            try:
                ok = engine.pay_invoice(inv, saved, authenticated=True)
            finally:
                engine._request = None
            engine.mark_dirty()
            if not ok:
                return page_invoice(sandbox, request, tok, error="Your card was declined.", status=402)
            return redirect(f"/i/{tok}", code=303)
        try:
            number, month, year, cvc, name = parse_card(request.form, engine.now())
        except StripeError as err:
            return page_invoice(sandbox, request, tok, error=err.body["message"], status=402)
        behavior = cards.describe(number)["behavior"]
        if behavior == "decline":
            return page_invoice(sandbox, request, tok, error="Your card was declined.", status=402)
        customer = engine.objects[inv["customer"]]
        pm = engine.card_payment_method(number, month, year, cvc, name=name, account=inv.get("_account"),
                                        clock_id=engine.clock_of(customer))
        if behavior == "3ds":
            pm["_behavior"] = "succeed"
        engine._request = {"id": None, "idempotency_key": None}
        try:
            engine.attach_card(pm, customer)
            ok = engine.pay_invoice(inv, pm)
        finally:
            engine._request = None
        engine.mark_dirty()
    if not ok:
        return page_invoice(sandbox, request, tok, error="Your card was declined.", status=402)
    return redirect(f"/i/{tok}", code=303)


def page_receipt(sandbox, request, tok):
    engine = sandbox.engine
    with engine.lock:
        inv = find_invoice(engine, tok)
        if inv is None:
            return page("Receipt not found", "<p>Not found.</p>", status=404, request=request)
        body = invoice_body(engine, inv)
        paid = date(inv["status_transitions"]["paid_at"]) if inv["status_transitions"]["paid_at"] else "not paid"
    return page("Receipt", f"{body}<p>Paid: {e(paid)}</p><p class=\"muted\">App Market (sandbox), "
                           f"org.nr 556000-0000. Amounts in SEK.</p>", request=request)


def page_index(sandbox, request):
    engine = sandbox.engine
    with engine.lock:
        counts = {}
        for obj in engine.objects.values():
            counts[obj["object"]] = counts.get(obj["object"], 0) + 1
        now = engine.now()
        pending = sum(1 for d in engine.deliveries if d["status"] == "pending")
    rows = "".join(f"<tr><td>{e(k)}</td><td class=num>{v}</td></tr>" for k, v in sorted(counts.items()))
    clock = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    body = (f"<p>An offline stand-in for Stripe's API (<code>/v1</code>). Sandbox clock: {e(clock)}. "
            f"Webhook deliveries pending: {pending}.</p>"
            f'<table aria-label="Objects"><tr><th>Object</th><th class=num>Count</th></tr>{rows}</table>')
    return page("Stripe sandbox", body, request=request)
