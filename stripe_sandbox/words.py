"""The words of the sandbox's Checkout and billing portal pages, in Swedish and English.

The sandbox is a separate program (it stands in for Stripe and never imports the market), so it
keeps its own small catalogue here: the English text is the key, as in the market's catalogues,
and SV holds the Swedish. A page follows the `locale` its Checkout or portal session was created
with, as Stripe's own pages do: "en" (or "en-GB"...) reads English; "sv", "auto", none or any
other reads Swedish, the market's first language. tests/stripe_sandbox/test_words.py checks that
every text the pages pass to `word` has Swedish here. (Not `say`: the market's catalogue test
reads that name in this folder too, and would look for these texts in the market's catalogues.)
"""
from decimal import Decimal

from babel.numbers import format_decimal

SWEDISH, ENGLISH = "sv", "en"

SV = {
    # the frame of every page
    "Stripe sandbox": "Stripe-sandlåda",
    "Stripe sandbox (test mode)": "Stripe-sandlåda (testläge)",
    # card fields
    "Card number": "Kortnummer",
    "Expiry (MM/YY)": "Giltigt till (MM/ÅÅ)",
    "MM/YY": "MM/ÅÅ",
    "CVC": "CVC",
    "Name on card": "Namn på kortet",
    # checkout
    "Order summary": "Ordersammanfattning",
    "%(count)s × %(price)s / %(every)s": "%(count)s × %(price)s / %(every)s",
    "day": "dag",
    "week": "vecka",
    "month": "månad",
    "year": "år",
    "%(count)s days": "%(count)s dagar",
    "%(count)s weeks": "%(count)s veckor",
    "%(count)s months": "%(count)s månader",
    "%(count)s years": "%(count)s år",
    "Subtotal (excl. moms)": "Delsumma (exkl. moms)",
    "%(name)s %(percent)s %%": "%(name)s %(percent)s %%",
    "%(name)s %(percent)s %% (incl.)": "%(name)s %(percent)s %% (inkl.)",
    "Total per %(period)s": "Totalt per %(period)s",
    "%(days)s days free trial": "%(days)s dagars gratis provperiod",
    ", then %(amount)s per %(period)s. Due today: %(today)s.": ", sedan %(amount)s per %(period)s. "
                                                              "Att betala i dag: %(today)s.",
    "Cancel and go back": "Avbryt och gå tillbaka",
    "Paying as %(email)s": "Betalar som %(email)s",
    "Email": "E-post",
    "Subscribe": "Prenumerera",
    "Save a card for future payments. Nothing is charged now.":
        "Spara ett kort för kommande betalningar. Inget debiteras nu.",
    "Save card": "Spara kort",
    "Checkout not found": "Kassan hittades inte",
    "This link is not valid.": "Länken är inte giltig.",
    "This Checkout Session is complete.": "Det här köpet är redan genomfört.",
    "This Checkout Session has expired.": "Det här köpet har gått ut.",
    "This Checkout Session is no longer available.": "Det här köpet är inte längre tillgängligt.",
    "Go back": "Gå tillbaka",
    "Checkout unavailable": "Kassan är inte tillgänglig",
    "Your bank asks you to confirm this payment (3D Secure test page).":
        "Din bank ber dig bekräfta betalningen (testsida för 3D Secure).",
    "Complete authentication": "Slutför autentiseringen",
    "Fail authentication": "Låt autentiseringen misslyckas",
    "Confirm your payment": "Bekräfta din betalning",
    "Confirmation expired": "Bekräftelsen har gått ut",
    "Start again: %(link)s.": "Börja om: %(link)s.",
    "back to checkout": "tillbaka till kassan",
    "We are unable to authenticate your payment method. Please choose a different payment method and try again.":
        "Vi kan inte autentisera din betalningsmetod. Välj en annan betalningsmetod och försök igen.",
    "Enter a valid email address.": "Ange en giltig e-postadress.",
    "Your card was declined.": "Ditt kort nekades.",
    # card errors (the API's messages stay English; the pages show them in the reader's language)
    "Your card's expiration date is incomplete.": "Kortets giltighetstid är ofullständig.",
    "Your card number is incomplete.": "Ditt kortnummer är ofullständigt.",
    "Enter the name on the card.": "Ange namnet på kortet.",
    "Your card number is incorrect.": "Ditt kortnummer är felaktigt.",
    "Your card's expiration month is invalid.": "Kortets utgångsmånad är ogiltig.",
    "Your card's expiration year is invalid.": "Kortets utgångsår är ogiltigt.",
    "Your card has expired.": "Ditt kort har gått ut.",
    "Your card's security code is invalid.": "Kortets säkerhetskod är ogiltig.",
    # billing portal
    "Billing": "Fakturering",
    "Link not valid": "Länken är inte giltig",
    "This portal link is not valid.": "Länken till portalen är inte giltig.",
    "Not found": "Hittades inte",
    "Not found.": "Hittades inte.",
    "%(status)s · ends %(date)s": "%(status)s · upphör %(date)s",
    "%(status)s · renews %(date)s": "%(status)s · förnyas %(date)s",
    "active": "aktiv",
    "trialing": "provperiod",
    "past_due": "förfallen",
    "unpaid": "obetald",
    "canceled": "avslutad",
    "incomplete": "ofullständig",
    "incomplete_expired": "ofullständig, utgången",
    "paused": "pausad",
    "draft": "utkast",
    "open": "öppen",
    "paid": "betald",
    "void": "makulerad",
    "uncollectible": "ej indrivningsbar",
    "Don't cancel": "Avsluta inte",
    "Cancel plan": "Avsluta abonnemang",
    "%(brand)s ending in %(last4)s, expires %(expiry)s": "%(brand)s som slutar på %(last4)s, giltigt till %(expiry)s",
    "No card on file": "Inget kort sparat",
    "Return": "Tillbaka",
    "Subscriptions": "Abonnemang",
    "Payment method": "Betalningsmetod",
    "Update card": "Uppdatera kort",
    "Invoices": "Fakturor",
}


def language(locale):
    """The language a page reads for a session's `locale`: English for "en" and its regional
    forms, else Swedish ("auto" and none included: the market's readers are Swedish first)."""
    code = (locale or "").strip().lower().replace("_", "-")
    return ENGLISH if code == ENGLISH or code.startswith(ENGLISH + "-") else SWEDISH


def word(lang, text, **values):
    """`text` in `lang`, with %(name)s placeholders filled (English: the text itself)."""
    if lang == SWEDISH:
        text = SV.get(text, text)
    return text % values if values else text


def money(ore, lang, currency="sek"):
    """An amount as the reader writes it: "1 234,50 kr" in Swedish, "1,234.50 kr" in English."""
    unit = "kr" if currency == "sek" else currency.upper()
    return f"{format_decimal(Decimal(ore) / 100, '#,##0.00', locale=lang)} {unit}"
