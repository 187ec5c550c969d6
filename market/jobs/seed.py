"""The demo data of DESIGN.md §8: `flask --app app seed-demo [--scale N]` and the demo's first start.

Deterministic: one `random.Random` with a fixed seed draws everything, so every run makes the
same apps, companies, usage and ratings; only timestamps move with the clock (they are all
relative to the moment of seeding). The history is imported (no Stripe objects behind it).

Usage depends on industry and size, and some apps are used together (DESIGN.md §7), so the
recommendations have something to learn from. Two apps are made to miss Recommended by exactly
one rule: one with 9 active customers, one with a 2.9 average.

`--scale N` seeds 100·N apps and 1,000·N companies (N=100: 10,000 apps, 100,000 companies) in
batches, with one shared password hash for every generated user.
"""
import datetime
import hashlib
import os
import random
import secrets
import struct
import zlib

from market.accounts import auth as accounts
from market.accounts import companies
from market.billing import history as subscription_history
from market.catalog import categories, store
from market.core import credentials
from market.jobs import rebuild
from models import (
    App,
    Category,
    Company,
    CompanyCustomer,
    CompanyInvoice,
    Connection,
    Developer,
    Membership,
    OAuthClient,
    Plan,
    Review,
    Subscription,
    User,
    db,
    utcnow,
)

SEED = 20211209
PASSWORD = "demo-pass-123"
BATCH = 1000
BASE_COMPANIES = 320

INDUSTRIES = ("construction", "retail", "consulting", "restaurant", "healthcare", "manufacturing",
              "transport", "it")
INDUSTRY_WEIGHTS = (18, 16, 16, 10, 10, 12, 10, 8)
SIZES = ("1-9", "10-49", "50-249", "250+")
SIZE_WEIGHTS = (50, 30, 15, 5)
APPS_PER_SIZE = {"1-9": (1, 3), "10-49": (2, 5), "50-249": (3, 7), "250+": (4, 9)}

# The categories' names as the rows keep them: Swedish, the market's first language. Pages show
# each in the reader's language through market.catalog.categories (English there).
CATEGORIES = [
    ("time-tracking", "Tidrapportering"),
    ("payroll", "Lön & personal"),
    ("crm", "CRM & försäljning"),
    ("e-commerce", "E-handel & kassa"),
    ("inventory", "Lager"),
    ("expenses", "Utlägg & kvitton"),
    ("project-management", "Projektledning"),
    ("bank-payments", "Bank & betalningar"),
    ("reporting", "Rapporter & analys"),
    ("industry", "Branschlösningar"),
]

# slug, name, category, price in öre (None: free), tagline in English, industries it is popular in,
# mean stars, popularity. Prices are per month excluding moms. The demo speaks Swedish (issue Q 4):
# each listing's own tagline is its Swedish one (TAGLINES_SV), the English one its English text.
CATALOGUE = [
    ("tidrapport-enkel", "Tidrapport Enkel", "time-tracking", None,
     "Simple time reports from phone or desktop", ("consulting", "construction", "it"), 4.3, 1.6),
    ("stampla", "Stämpla", "time-tracking", 4900,
     "Clock in and out, with the staff ledger (personalliggare) kept for you", ("restaurant", "construction"),
     4.0, 1.0),
    ("projekttid-plus", "Projekttid Plus", "time-tracking", 14900,
     "Hours per project, straight onto the invoice", ("consulting", "it"), 3.8, 0.9),
    ("lonekollen", "Lönekollen", "payroll", 29900,
     "Payroll with tax tables, employer declarations (AGI) and payslips", (), 4.2, 1.4),
    ("semesterkoll", "Semesterkoll", "payroll", 3900,
     "Holiday balances and absence for every employee", ("healthcare", "retail"), 3.6, 0.8),
    ("loneportalen", "Löneportalen", "payroll", 59900,
     "Payroll for larger companies with collective agreements", ("manufacturing", "healthcare", "transport"),
     3.4, 0.6),
    ("traktamente", "Traktamente & Resor", "payroll", 2900,
     "Per diem and mileage allowances done right", ("transport", "consulting", "construction"), 3.9, 0.8),
    ("kundkraft-crm", "Kundkraft CRM", "crm", 24900,
     "Pipeline, contacts and follow-ups linked to your invoices", ("consulting", "it"), 4.1, 1.1),
    ("offertmastaren", "Offertmästaren", "crm", 19900,
     "Quotes that turn into orders and invoices", ("construction", "manufacturing"), 4.4, 1.0),
    ("nyhetsbrev-direkt", "Nyhetsbrev Direkt", "crm", None,
     "Send newsletters to the customers in your register", ("retail", "restaurant"), 3.2, 0.9),
    ("kundtjanst-360", "Kundtjänst 360", "crm", 34900,
     "Shared inbox and tickets with each customer's history", ("it", "retail"), 3.5, 0.6),
    ("webbshop-koppling", "Webbshop Koppling", "e-commerce", 14900,
     "Orders from your web shop booked automatically", ("retail",), 4.3, 1.3),
    ("kassasynk", "Kassasynk", "e-commerce", 9900,
     "Daily Z-reports from your till booked automatically", ("restaurant", "retail"), 4.0, 1.0),
    ("marknadsplats-sync", "Marknadsplats Sync", "e-commerce", 19900,
     "Sell on marketplaces with stock and orders in sync", ("retail",), 3.3, 0.6),
    ("presentkort-online", "Presentkort Online", "e-commerce", 4900,
     "Sell gift cards online and book them correctly", ("restaurant", "retail"), 3.7, 0.5),
    ("lagerkoll", "Lagerkoll", "inventory", 19900,
     "Stock levels, purchase orders and stocktaking", ("retail", "manufacturing"), 4.2, 1.1),
    ("streckkod-scan", "Streckkod Scan", "inventory", None,
     "Scan barcodes with your phone when you count stock", ("retail", "manufacturing"), 3.9, 0.7),
    ("produktionsplan", "Produktionsplan", "inventory", 49900,
     "Plan production orders, materials and machine time", ("manufacturing",), 3.6, 0.6),
    ("kvitto-snap", "Kvitto Snap", "expenses", None,
     "Photograph a receipt and it is booked for you", (), 4.5, 2.0),
    ("utlagg-pro", "Utlägg Pro", "expenses", 7900,
     "Employee expenses approved and paid back with the salary", ("consulting", "it", "healthcare"), 4.0, 0.9),
    ("kortkoll", "Kortkoll", "expenses", 5900,
     "Company card transactions matched with their receipts", ("consulting", "it"), 3.1, 0.6),
    ("byggdagbok", "Byggdagbok", "project-management", 12900,
     "Site diary, change orders (ÄTA) and photos for building projects", ("construction",), 4.4, 0.9),
    ("projektportalen", "Projektportalen", "project-management", 17900,
     "Projects, budgets and follow-up against the books", ("consulting", "it", "construction"), 3.9, 0.8),
    ("arbetsorder-mobil", "Arbetsorder Mobil", "project-management", 9900,
     "Work orders in the field, invoiced when the job is done", ("construction", "manufacturing"), 4.1, 0.8),
    ("resursplanering", "Resursplanering", "project-management", 24900,
     "Schedule staff and equipment across projects", ("construction", "healthcare"), 2.6, 0.7),
    ("banksync", "Banksync", "bank-payments", None,
     "Bank transactions imported and matched every night", (), 4.0, 1.8),
    ("betalfiler", "Betalfiler", "bank-payments", 4900,
     "Pay supplier invoices with one file to your bank", ("manufacturing", "transport"), 3.8, 0.7),
    ("inkasso-direkt", "Inkasso Direkt", "bank-payments", None,
     "Send overdue invoices to debt collection in one click", ("construction", "consulting"), 3.4, 0.6),
    ("fakturakop-snabb", "Fakturaköp Snabb", "bank-payments", None,
     "Sell your invoices and get paid today", ("construction", "transport"), 3.0, 0.5),
    ("valutakoll", "Valutakoll", "bank-payments", 3900,
     "Exchange rates and currency accounts for foreign trade", ("manufacturing", "it"), 3.7, 0.4),
    ("nyckeltal-live", "Nyckeltal Live", "reporting", 14900,
     "Dashboards with the key figures of your business", ("consulting", "it", "retail"), 4.2, 1.0),
    ("budget-prognos", "Budget & Prognos", "reporting", 19900,
     "Budgets and cash-flow forecasts from your ledger", ("manufacturing", "consulting"), 3.8, 0.7),
    ("koncernrapport", "Koncernrapport", "reporting", 79900,
     "Consolidated reports for groups of companies", ("manufacturing",), 3.5, 0.3),
    ("bokslutshjalpen", "Bokslutshjälpen", "reporting", 29900,
     "Year-end closing and annual reports (K2/K3)", ("consulting",), 4.0, 0.7),
    ("akeri-planering", "Åkeri Planering", "industry", 24900,
     "Transport orders, vehicles and drivers for hauliers (åkerier)", ("transport",), 4.3, 0.8),
    ("bordsbokning", "Bordsbokning", "industry", 9900,
     "Table bookings linked to your till", ("restaurant",), 3.9, 0.8),
    ("journalkoppling-vard", "Journalkoppling Vård", "industry", 39900,
     "Connect your patient record system to invoicing", ("healthcare",), 4.1, 0.8),
    ("salongsbokning", "Salongsbokning", "industry", 7900,
     "Online booking for salons and clinics", ("healthcare", "retail"), 3.6, 0.6),
    ("fastighetsforvaltning", "Fastighetsförvaltning", "industry", 34900,
     "Rent invoices and a tenant ledger for property owners", ("consulting",), 3.3, 0.4),
    ("konsultfaktura", "Konsultfaktura", "time-tracking", 9900,
     "Invoice consultants' hours per contract and rate", ("it", "consulting"), 4.0, 0.8),
    ("signera-direkt", "Signera Direkt", "crm", 4900,
     "Sign contracts and quotes electronically", ("consulting", "construction"), 4.2, 0.7),
    ("korjournal", "Körjournal", "expenses", 3900,
     "A trip log for company cars, ready for the tax return", ("transport", "construction"), 3.8, 0.7),
]
# Each demo listing's tagline in Swedish, the listing's own text; the English above is its English text.
TAGLINES_SV = {
    "tidrapport-enkel": "Enkla tidrapporter från mobilen eller datorn",
    "stampla": "Stämpla in och ut, med personalliggaren förd åt dig",
    "projekttid-plus": "Timmar per projekt, direkt på fakturan",
    "lonekollen": "Lön med skattetabeller, arbetsgivardeklarationer (AGI) och lönebesked",
    "semesterkoll": "Semestersaldon och frånvaro för varje anställd",
    "loneportalen": "Lön för större företag med kollektivavtal",
    "traktamente": "Traktamenten och milersättning, rätt från början",
    "kundkraft-crm": "Säljtratt, kontakter och uppföljning kopplade till dina fakturor",
    "offertmastaren": "Offerter som blir order och fakturor",
    "nyhetsbrev-direkt": "Skicka nyhetsbrev till kunderna i ditt kundregister",
    "kundtjanst-360": "Gemensam inkorg och ärenden med varje kunds historik",
    "webbshop-koppling": "Order från din webbutik bokförs automatiskt",
    "kassasynk": "Dagliga Z-rapporter från kassan bokförs automatiskt",
    "marknadsplats-sync": "Sälj på marknadsplatser med lager och order i synk",
    "presentkort-online": "Sälj presentkort på nätet och bokför dem rätt",
    "lagerkoll": "Lagersaldon, inköpsorder och inventering",
    "streckkod-scan": "Skanna streckkoder med mobilen när du inventerar",
    "produktionsplan": "Planera tillverkningsorder, material och maskintid",
    "kvitto-snap": "Fotografera ett kvitto så bokförs det åt dig",
    "utlagg-pro": "De anställdas utlägg godkända och återbetalda med lönen",
    "kortkoll": "Företagskortets transaktioner matchade mot sina kvitton",
    "byggdagbok": "Byggdagbok, ÄTA-arbeten och foton för byggprojekt",
    "projektportalen": "Projekt, budgetar och uppföljning mot bokföringen",
    "arbetsorder-mobil": "Arbetsorder ute på fältet, fakturerade när jobbet är klart",
    "resursplanering": "Planera personal och utrustning över alla projekt",
    "banksync": "Banktransaktioner hämtas och matchas varje natt",
    "betalfiler": "Betala leverantörsfakturor med en fil till banken",
    "inkasso-direkt": "Skicka förfallna fakturor till inkasso med ett klick",
    "fakturakop-snabb": "Sälj dina fakturor och få betalt i dag",
    "valutakoll": "Valutakurser och valutakonton för utrikeshandel",
    "nyckeltal-live": "Översikter med företagets viktigaste nyckeltal",
    "budget-prognos": "Budgetar och likviditetsprognoser från din huvudbok",
    "koncernrapport": "Koncernrapporter för företagsgrupper",
    "bokslutshjalpen": "Bokslut och årsredovisning (K2/K3)",
    "akeri-planering": "Transportuppdrag, fordon och förare för åkerier",
    "bordsbokning": "Bordsbokning kopplad till din kassa",
    "journalkoppling-vard": "Koppla ditt journalsystem till faktureringen",
    "salongsbokning": "Onlinebokning för salonger och kliniker",
    "fastighetsforvaltning": "Hyresavier och hyresreskontra för fastighetsägare",
    "konsultfaktura": "Fakturera konsulters timmar per avtal och timpris",
    "signera-direkt": "Signera avtal och offerter elektroniskt",
    "korjournal": "Körjournal för tjänstebilar, klar för deklarationen",
    "kemikalieregister": "Kemikalieregister och säkerhetsdatablad på ett ställe",
    "schemalaggaren": "Personalscheman för butiker och restauranger, skickade till lönen",
    "kassaflodeskoll": "Varningar om likviditeten innan kontot tar slut",
    "paminnelse-pro": "Vänliga betalningspåminnelser, skickade på rätt dag",
    "time-tracker-pro": "Registrera debiterbara timmar och fakturera dem med ett klick",
    "sample-integration": "Ett fungerande exempel på en integration med App Market: startsida, OAuth2 och API:t",
    "kalkyl-bygg": "Kostnadskalkyler för byggprojekt",
    "snabblan-direkt": "Snabblån mot din försäljning",
}

# Apps often used together (DESIGN.md §7): a company with the first often has the second.
PAIRS = [("webbshop-koppling", "lagerkoll"), ("lonekollen", "utlagg-pro"), ("byggdagbok", "arbetsorder-mobil"),
         ("kundkraft-crm", "signera-direkt"), ("kassasynk", "bordsbokning"), ("tidrapport-enkel", "lonekollen"),
         ("akeri-planering", "korjournal"), ("offertmastaren", "signera-direkt")]

# Made to miss Recommended by exactly one rule.
NEAR_MISS_ACTIVE = ("kemikalieregister", "Kemikalieregister", "industry", None,
                    "Chemical register and safety data sheets in one place")
NEAR_MISS_RATING = ("schemalaggaren", "Schemaläggaren", "payroll", 9900,
                    "Staff rotas for shops and restaurants, sent to payroll")
# Paid apps whose plans are not on sale yet: their pages say "Not for sale yet" (issue P).
NOT_FOR_SALE = [("kassaflodeskoll", "Kassaflödeskoll", "reporting", 14900,
                 "Cash-flow warnings before the account runs dry"),
                ("paminnelse-pro", "Påminnelse Pro", "bank-payments", 4900,
                 "Friendly payment reminders sent on the right day")]
NOT_FOR_SALE_SLUGS = {row[0] for row in NOT_FOR_SALE}
NEAR_MISS_RATING_STARS = [5, 4, 3, 3, 3, 3, 2, 2, 2, 2]  # 29 / 10 = 2.9

VENDORS = ["Nordlys Software AB", "Bokföringsbolaget i Norr AB", "Kodverket Stockholm AB", "Molnbyrån AB",
           "Siffra Systems AB", "Västkust Digital AB", "Integrationshuset AB", "Fjällsoft AB",
           "Östgöta IT-konsult AB", "Smart Ekonomi Sverige AB"]

SURNAMES = ["Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson",
            "Svensson", "Gustafsson", "Pettersson", "Jonsson", "Jansson", "Hansson", "Bengtsson", "Lindberg",
            "Lindström", "Lindqvist", "Berglund", "Forsberg", "Sandberg", "Holm", "Sjöberg", "Wallin",
            "Engström", "Ek", "Hedlund", "Åberg", "Öberg", "Lundgren"]
INDUSTRY_WORDS = {
    "construction": ["Bygg", "Bygg & Montage", "Snickeri", "Mark & Anläggning", "Måleri", "VVS", "El"],
    "retail": ["Handel", "Butik", "Inredning", "Sport", "Blommor", "Järn"],
    "consulting": ["Konsult", "Redovisning", "Juridik", "Management", "Arkitekter", "Byrå"],
    "restaurant": ["Restaurang", "Café", "Bageri", "Pizzeria", "Kök & Bar"],
    "healthcare": ["Tandvård", "Fysioterapi", "Vårdcentral", "Hälsa", "Omsorg"],
    "manufacturing": ["Mekaniska", "Verkstad", "Industri", "Plast", "Trä", "Gjuteri"],
    "transport": ["Åkeri", "Transport", "Logistik", "Frakt", "Taxi"],
    "it": ["Data", "IT-konsult", "Systemutveckling", "Webbyrå", "Digital"],
}
CITIES = ["Stockholm", "Göteborg", "Malmö", "Uppsala", "Västerås", "Örebro", "Linköping", "Umeå", "Luleå",
          "Jönköping", "Växjö", "Gävle", "Sundsvall", "Karlstad", "Östersund"]

# Reviews are the customers' own words: Swedish, as the demo's companies write them.
REVIEW_TEXTS = {
    5: ["Sparar oss flera timmar varje månad.", "Fungerar precis som utlovat, och supporten svarar samma dag.",
        "Den bästa integrationen vi har. Igång på tio minuter."],
    4: ["Bra app, några saker kunde vara enklare.", "Gör jobbet bra. Mobilvyn kunde vara bättre.",
        "Pålitlig och prisvärd."],
    3: ["Okej, men vi fick ändra våra rutiner.", "Fungerar, men installationen tog ett tag.", ""],
    2: ["Synkar för långsamt för oss.", "Saknar funktioner som vår bransch behöver."],
    1: ["Fungerade inte med vår kontoplan.", "Supporten svarade aldrig."],
}

DEMO_COMPANIES = [
    # name, industry, size, login, apps the company uses (paid ones get a subscription)
    ("Demo Bygg AB", "construction", "10-49", "customer@demo.test",
     ["byggdagbok", "lonekollen", "kvitto-snap", "banksync"]),
    ("Hälsa & Vård Stockholm AB", "healthcare", "10-49", "other@demo.test",
     ["journalkoppling-vard", "semesterkoll", "nyckeltal-live", "salongsbokning"]),
]
# The accounting bureau (issue T): byra@demo.test works in its own company and, as admin, in
# Demo Bygg AB and two client companies of its own, each with different apps.
DEMO_BUREAU = ("Demo Redovisning AB", "accounting", "10-49", "byra@demo.test")
DEMO_BUREAU_CLIENTS = [
    ("Demo Café Söder AB", "restaurant", "1-9", "admin.cafe@companies.demo.test",
     ["bordsbokning", "kassasynk", "tidrapport-enkel"]),
    ("Demo Frakt Norr AB", "transport", "10-49", "admin.frakt@companies.demo.test",
     ["akeri-planering", "utlagg-pro", "betalfiler", "kvitto-snap"]),
]
DEMO_DEVELOPER = "Demo Developer AB"
DEMO_MEMBER = "member@demo.test"  # a member, not an admin, of DEMO_COMPANIES[0]


def luhn_org_number(n):
    """A Swedish org number (NNNNNN-NNNN) with a valid Luhn check digit, the n-th of the seed's."""
    return companies.org_number_from(f"{556100000 + n:09d}"[-9:])


def _batched_insert(model, rows):
    for start in range(0, len(rows), BATCH):
        model.insert_many(rows[start:start + BATCH]).execute()


# The industries as a Swedish description names them.
INDUSTRIES_SV = {"construction": "bygg", "retail": "handel", "consulting": "konsultverksamhet",
                 "restaurant": "restaurang", "healthcare": "vård", "manufacturing": "tillverkning",
                 "transport": "transport", "it": "IT"}


def _description(name, tagline, category_name, industries):
    """The listing's own description, in Swedish (issue Q 4)."""
    who = ("företag inom " + ", ".join(INDUSTRIES_SV.get(i, i) for i in industries) if industries
           else "företag av alla storlekar och i alla branscher")
    return (f"<p><strong>{name}</strong>: {tagline[0].lower()}{tagline[1:]}.</p>\n"
            f"<p>Byggd för {who}. {name} ansluts till din bokföring via App Market med "
            f"OAuth2, så du delar aldrig något lösenord, och du kan återkalla åtkomsten när som helst.</p>\n"
            f"<ul><li>Igång på några minuter från App Market</li><li>Data synkas automatiskt</li>"
            f"<li>Svensk support på vardagar</li></ul>\n"
            f"<p>Kategori: {category_name}. Läs mer på "
            f"<a href=\"https://example.com/{name.lower().replace(' ', '-')}\">vår webbplats</a>.</p>")


def _description_en(name, tagline, category_name, industries):
    """The listing's English description, for the English interface."""
    who = ", ".join(industries) if industries else "companies of every size and industry"
    return (f"<p><strong>{name}</strong>: {tagline.lower()}.</p>\n"
            f"<p>Built for {who}. {name} connects to your accounting through the App Market with "
            f"OAuth2, so you never share a password, and you can revoke access at any time.</p>\n"
            f"<ul><li>Set up in minutes from the App Market</li><li>Data synced automatically</li>"
            f"<li>Swedish support on weekdays</li></ul>\n"
            f"<p>Category: {category_name}. Read more on "
            f"<a href=\"https://example.com/{name.lower().replace(' ', '-')}\">our website</a>.</p>")


# The demo apps that get a generated icon; the rest keep the letter badge, so the store shows both.
ICON_APPS = ("kvitto-snap", "lonekollen", "webbshop-koppling", "byggdagbok", "banksync", "akeri-planering",
             "time-tracker-pro", "sample-integration")
ICON_SIZE = 64


def png_bytes(width, height, pixel):
    """A truecolour PNG; `pixel(x, y)` gives (r, g, b). Small enough to need no image library."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(value for x in range(width) for value in pixel(x, y)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b""))


def demo_icon(slug):
    """The file name (listings.ICON_NAME_RE) and PNG of a slug's icon: a rounded-looking tile in
    the slug's colour with a lighter diagonal band, the same bytes on every seed."""
    digest = hashlib.sha256(slug.encode()).digest()
    base = (40 + digest[0] % 150, 40 + digest[1] % 150, 40 + digest[2] % 150)
    light = tuple(min(255, c + 90) for c in base)
    band = 8 + digest[3] % 16

    def pixel(x, y):
        return light if abs((x + y) - ICON_SIZE) < band else base

    return hashlib.md5(slug.encode()).hexdigest() + ".png", png_bytes(ICON_SIZE, ICON_SIZE, pixel)


SHOT_WIDTH, SHOT_HEIGHT = 320, 200


def _png(width, rows):
    """A truecolour PNG from its rows of RGB bytes."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, len(rows), 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def demo_screenshot(slug, number):
    """The file name and PNG of a slug's `number`th screenshot: a sketch of an app window (title
    bar in the app's colour, a sidebar, lines of "text" and a chart), the same bytes on every seed.
    Built row by row from a few repeated runs of colour, so it costs milliseconds."""
    digest = hashlib.sha256(f"{slug}:{number}".encode()).digest()
    base = bytes((40 + digest[0] % 150, 40 + digest[1] % 150, 40 + digest[2] % 150))
    light, white, grey, bar = bytes((236, 239, 243)), bytes((255, 255, 255)), bytes((200, 205, 212)), base
    sidebar = 70
    rows = []
    for y in range(SHOT_HEIGHT):
        if y < 24:
            rows.append(base * SHOT_WIDTH)
            continue
        content = SHOT_WIDTH - sidebar
        if 40 <= y < 150 and (y - 40) % 18 < 8:
            length = 60 + digest[(y // 18) % 32] % (content - 90)
            line = grey * length + white * (content - length)
        elif 160 <= y < 192:
            # a bar chart: four bars of the app's colour rising from the bottom
            line = b""
            for i in range(4):
                height = 8 + digest[8 + i + number] % 24
                line += (bar if 192 - y <= height else white) * 30 + white * 20
            line = (line + white * content)[:content * 3]
        else:
            line = white * content
        menu = grey if 30 <= y < 150 and (y - 30) % 20 < 6 else light
        rows.append(menu * (sidebar - 10) + light * 10 + line)
    name = hashlib.md5(f"{slug}:screenshot:{number}".encode()).hexdigest() + ".png"
    return name, _png(SHOT_WIDTH, rows)


def screenshot_count(slug):
    """1–3 screenshots per app, fixed by its slug."""
    return 1 + hashlib.sha256(slug.encode()).digest()[4] % 3


def listing_contacts(slug):
    """Every seeded app's support address, website and privacy policy (issue P 5)."""
    return {"support": f"support@{slug}.example.com", "website_url": f"https://{slug}.example.com/",
            "privacy_url": f"https://{slug}.example.com/privacy"}


# What each plan gives, one feature a line, in Swedish (a plan has one description).
PLAN_FEATURES = {
    "Standard": "Allt som appen gör, för hela ditt företag\nData synkas med din bokföring varje timme\n"
                "Support via e-post på vardagar",
    "Plus": "Allt i Standard\nData synkas var femte minut\nObegränsat antal användare och obegränsad historik\n"
            "Telefonsupport och hjälp att komma igång",
}


def icon_directory(config):
    """Where /icons/ serves from (ICON_DIR, set by market.config); None for a bare settings
    dict (the benchmark's bulk seeding makes no icons)."""
    return config.get("ICON_DIR")


class _Seeder:
    def __init__(self, config, scale, echo):
        self.config = config
        self.scale = scale
        self.echo = echo
        self.rng = random.Random(SEED)
        self.now = utcnow().replace(microsecond=0)
        self.shared_hash = accounts.hash_password(PASSWORD)

    def days_ago(self, days, hours=0):
        return self.now - datetime.timedelta(days=days, hours=hours)

    # -- catalogue ------------------------------------------------------------------------------

    def categories(self):
        _batched_insert(Category, [{"slug": slug, "name": name, "position": i}
                                   for i, (slug, name) in enumerate(CATEGORIES)])
        self.category_ids = dict(Category.select(Category.slug, Category.id).tuples())
        self.category_names = dict(CATEGORIES)
        self.category_names_en = {slug: categories.name_of(slug, "en") for slug, _ in CATEGORIES}

    def developers(self):
        names = [DEMO_DEVELOPER] + VENDORS
        extra = max(0, (self.scale or 0) * 10 - len(VENDORS))
        names += [f"Apputvecklarna {i} AB" for i in range(1, extra + 1)]
        _batched_insert(Developer, [{"name": name, "org_number": luhn_org_number(900000 + i),
                                     "payouts_enabled": True, "stripe_details_submitted": True,
                                     "created_at": self.days_ago(900 - i % 600)}
                                    for i, name in enumerate(names)])
        self.developer_ids = [row for (row,) in Developer.select(Developer.id).order_by(Developer.id).tuples()]
        self.demo_developer_id = self.developer_ids[0]
        users = [{"email": "developer@demo.test", "password_hash": accounts.hash_password(PASSWORD),
                  "name": "Dana Developer", "developer": self.demo_developer_id}]
        users += [{"email": f"dev.{i:04d}@vendors.demo.test", "password_hash": self.shared_hash,
                   "name": f"Developer {i}", "developer": developer_id}
                  for i, developer_id in enumerate(self.developer_ids[1:], start=1)]
        _batched_insert(User, users)

    def apps(self):
        rng = self.rng
        rows, plans, self.profiles = [], [], {}
        vendor_ids = self.developer_ids[1:]

        def add(slug, name, category, price, tagline, developer_id, status="published", industries=(),
                quality=4.0, popularity=1.0, featured=False, **extra):
            # `tagline` is the English text; the listing's own is Swedish (a listing may carry both).
            tagline_en, tagline = (tagline, TAGLINES_SV[slug]) if slug in TAGLINES_SV else extra["taglines"]
            description = _description(name, tagline, self.category_names[category], industries)
            description_en = _description_en(name, tagline_en, self.category_names_en[category], industries)
            published = status == "published"
            age = extra["age"] if "age" in extra else rng.randint(20, 900)
            rows.append({
                "developer": developer_id, "slug": slug, "name": name, "tagline": tagline,
                "description": description, "description_html": store.sanitise_description(description),
                "tagline_en": tagline_en, "description_en": description_en,
                "description_html_en": store.sanitise_description(description_en),
                "category": self.category_ids[category], "landing_url": f"https://{slug}.example.com/start",
                "is_free": price is None, "min_price_ore": price or 0, "status": status, "featured": featured,
                "created_at": self.days_ago(age + 30), "updated_at": self.days_ago(age),
                "published_at": self.days_ago(age) if published else None,
                "rejection_reason": extra.get("rejection_reason", ""), **listing_contacts(slug)})
            if price is not None and extra.get("for_sale", True):
                plans.append((slug, "Standard", price, rng.choice((0, 0, 14, 30))))
                if price >= 19900 and rng.random() < 0.5:
                    plans.append((slug, "Plus", price * 2 - 100, 0))
            self.profiles[slug] = {"industries": industries, "quality": quality, "popularity": popularity,
                                   "free": price is None}

        for i, (slug, name, category, price, tagline, industries, quality, popularity) in enumerate(CATALOGUE):
            add(slug, name, category, price, tagline, vendor_ids[i % len(vendor_ids)], industries=industries,
                quality=quality, popularity=popularity, featured=slug in (
                    "kvitto-snap", "lonekollen", "webbshop-koppling", "byggdagbok", "banksync", "akeri-planering"))
        for slug, name, category, price, tagline in (NEAR_MISS_ACTIVE, NEAR_MISS_RATING):
            add(slug, name, category, price, tagline, vendor_ids[len(rows) % len(vendor_ids)], popularity=0)
        # The demo developer's apps (DESIGN.md §8).
        add("time-tracker-pro", "Time Tracker Pro", "time-tracking", None, "Track billable hours and invoice "
            "them in one click", self.demo_developer_id, industries=("consulting", "it"), popularity=0)
        rows[-1].update(is_free=False, min_price_ore=19900)
        self.profiles["time-tracker-pro"]["free"] = False
        plans.append(("time-tracker-pro", "Standard", 19900, 0))
        add("sample-integration", "Sample Integration", "reporting", None,
            "A working example of an App Market integration: landing page, OAuth2 and the API",
            self.demo_developer_id, popularity=0)
        rows[-1]["landing_url"] = "http://127.0.0.1:5001/"
        add("kalkyl-bygg", "Kalkyl Bygg", "project-management", 9900, "Cost estimates for building projects",
            self.demo_developer_id, status="in_review", popularity=0)
        add("snabblan-direkt", "Snabblån Direkt", "bank-payments", None, "Instant loans against your sales",
            self.demo_developer_id, status="rejected", popularity=0,
            rejection_reason="Startsidan säger inte vad appen gör med företagets data, och de begärda "
                             "behörigheterna är bredare än appen behöver.")
        # Seeded on purpose as not for sale yet (issue P): paid, published, no plan on sale. They
        # draw nothing from the seed's random numbers, so the rest of the data stays as it was.
        for n, (slug, name, category, price, tagline) in enumerate(NOT_FOR_SALE):
            add(slug, name, category, price, tagline, vendor_ids[n % len(vendor_ids)], popularity=0,
                for_sale=False, age=60 + n)
        self.listed_slugs = [row["slug"] for row in rows]  # the demo's own apps, before --scale's
        # --scale: many more apps, spread over the categories and vendors.
        total_apps = max(len(rows), (self.scale or 0) * 100)
        category_slugs = [slug for slug, _ in CATEGORIES]
        for n in range(len(rows), total_apps):
            category = category_slugs[n % len(category_slugs)]
            price = None if rng.random() < 0.3 else rng.choice((2900, 4900, 9900, 14900, 19900, 29900))
            add(f"app-{n:05d}", f"{rng.choice(SURNAMES)} {self.category_names[category]} {n}", category, price,
                f"{self.category_names_en[category]} for Swedish businesses, number {n}",
                self.developer_ids[n % len(self.developer_ids)],
                taglines=(f"{self.category_names_en[category]} for Swedish businesses, number {n}",
                            f"{self.category_names[category]} för svenska företag, nummer {n}"),
                industries=(rng.choice(INDUSTRIES),), quality=rng.uniform(2.5, 4.7),
                popularity=rng.uniform(0.05, 0.6))
        _batched_insert(App, rows)
        self.app_ids = dict(App.select(App.slug, App.id).tuples())
        plan_rows = [{"app": self.app_ids[slug], "name": name, "price_ore": price, "trial_days": trial,
                      "position": i, "description": PLAN_FEATURES.get(name, "")}
                     for i, (slug, name, price, trial) in enumerate(plans)]
        _batched_insert(Plan, plan_rows)
        self.plans = {}
        for app_id, plan_id, price in (Plan.select(Plan.app, Plan.id, Plan.price_ore)
                                       .order_by(Plan.position).tuples()):
            self.plans.setdefault(app_id, (plan_id, price))  # the first plan is the one bought

    def icons(self):
        directory = icon_directory(self.config)
        if directory is None:
            return
        os.makedirs(directory, exist_ok=True)
        for slug in ICON_APPS:
            if slug not in self.app_ids:
                continue
            name, data = demo_icon(slug)
            with open(os.path.join(directory, name), "wb") as out:
                out.write(data)
            App.update(icon=name).where(App.id == self.app_ids[slug]).execute()
        # 1–3 screenshots for every app of the demo, served by the market like icons (--scale's
        # many extra apps have none).
        for slug in self.listed_slugs:
            names = []
            for number in range(1, screenshot_count(slug) + 1):
                name, data = demo_screenshot(slug, number)
                with open(os.path.join(directory, name), "wb") as out:
                    out.write(data)
                names.append(name)
            App.update(screenshots=" ".join(names)).where(App.id == self.app_ids[slug]).execute()

    def oauth_clients(self):
        secret_key = self.config["SECRET_KEY"]
        rows = []
        for slug, app_id in sorted(self.app_ids.items(), key=lambda item: item[1]):
            if slug == "sample-integration":
                rows.append({"app": app_id, "client_id": "sample-integration",
                             "client_secret_hash": credentials.hash_client_secret(
                                 secret_key, self.config["DEMO_CLIENT_SECRET"]),
                             "redirect_uris": "http://127.0.0.1:5001/callback",
                             "scopes": "companyinformation customer invoice"})
            else:
                # Random secrets nobody knows: these apps' history is imported, not live. (The
                # apps not for sale take no random numbers: see apps().)
                suffix = (hashlib.sha256(slug.encode()).hexdigest()[:10] if slug in NOT_FOR_SALE_SLUGS
                          else f"{self.rng.getrandbits(40):010x}")
                rows.append({"app": app_id, "client_id": f"{slug[:40]}-{suffix}",
                             "client_secret_hash": credentials.hash_client_secret(
                                 secret_key, credentials.new_client_secret()),
                             "redirect_uris": f"https://{slug}.example.com/oauth/callback",
                             "scopes": "companyinformation customer invoice"})
        _batched_insert(OAuthClient, rows)

    # -- customers ------------------------------------------------------------------------------

    def companies(self):
        rng = self.rng
        rows, self.company_profiles = [], []
        for i, (name, industry, size, _, _) in enumerate(DEMO_COMPANIES):
            rows.append({"name": name, "org_number": luhn_org_number(i), "industry": industry, "size": size,
                         "imported": False, "public_id": secrets.token_urlsafe(12),
                         "created_at": self.days_ago(700)})
        total = max(BASE_COMPANIES, (self.scale or 0) * 1000)
        for n in range(1, total + 1):
            industry = rng.choices(INDUSTRIES, INDUSTRY_WEIGHTS)[0]
            size = rng.choices(SIZES, SIZE_WEIGHTS)[0]
            name = f"{rng.choice(SURNAMES)} {rng.choice(INDUSTRY_WORDS[industry])} i {rng.choice(CITIES)} AB"
            rows.append({"name": name, "org_number": luhn_org_number(100 + n), "industry": industry,
                         "size": size, "imported": True, "public_id": secrets.token_urlsafe(12),
                         "created_at": self.days_ago(rng.randint(60, 2500))})
        _batched_insert(Company, rows)
        ids = dict(Company.select(Company.org_number, Company.id).tuples())
        self.companies_list = [(ids[row["org_number"]], row["industry"], row["size"]) for row in rows]
        users = []
        for i, (_, _, _, email, _) in enumerate(DEMO_COMPANIES):
            users.append({"email": email, "password_hash": accounts.hash_password(PASSWORD),
                          "name": email.split("@")[0].title(), "company": self.companies_list[i][0],
                          "company_role": "admin"})
        for n, (company_id, _, _) in enumerate(self.companies_list[len(DEMO_COMPANIES):], start=1):
            users.append({"email": f"admin.{n:06d}@companies.demo.test", "password_hash": self.shared_hash,
                          "name": f"Admin {n}", "company": company_id, "company_role": "admin"})
        _batched_insert(User, users)
        self.admin_of = dict(User.select(User.company, User.id)
                             .where(User.company.is_null(False)).tuples())
        _batched_insert(User, [{"email": "admin@demo.test", "password_hash": accounts.hash_password(PASSWORD),
                                "name": "Platform Admin", "is_platform_admin": True}])
        # A member who is not an admin of Demo Bygg AB (issue P): sees "Ask an admin" where
        # an admin sees Buy and Activate. Added after `admin_of`, which maps a company to its admin.
        _batched_insert(User, [{"email": DEMO_MEMBER, "password_hash": accounts.hash_password(PASSWORD),
                                "name": "Maja Medlem", "company": self.companies_list[0][0],
                                "company_role": "member"}])

    def bureau(self):
        """The accounting bureau, its own admin login, and its two client companies (each with an
        admin of its own, so every company has one); memberships for all its companies."""
        rows = [{"name": name, "org_number": luhn_org_number(90 + i), "industry": industry, "size": size,
                 "imported": False, "public_id": secrets.token_urlsafe(12), "created_at": self.days_ago(500)}
                for i, (name, industry, size, *_rest) in enumerate([DEMO_BUREAU] + DEMO_BUREAU_CLIENTS)]
        _batched_insert(Company, rows)
        ids = dict(Company.select(Company.org_number, Company.id).tuples())
        bureau_id, *client_ids = [ids[row["org_number"]] for row in rows]
        users = [{"email": DEMO_BUREAU[3], "password_hash": accounts.hash_password(PASSWORD), "name": "Berit Byrå",
                  "company": bureau_id, "company_role": "admin"}]
        users += [{"email": client[3], "password_hash": self.shared_hash, "name": f"Admin {client[0]}",
                   "company": company_id, "company_role": "admin"} for client, company_id in zip(DEMO_BUREAU_CLIENTS, client_ids, strict=True)]
        _batched_insert(User, users)
        byra = User.get(User.email == DEMO_BUREAU[3])
        for company_id in [bureau_id, self.companies_list[0][0]] + client_ids:
            Membership.create(user=byra, company=company_id, role="admin")
        for user in User.select().where(User.email.in_([client[3] for client in DEMO_BUREAU_CLIENTS])):
            Membership.create(user=user, company=user.company_id, role="admin")
            self.admin_of[user.company_id] = user.id
        self.bureau_clients = [(company_id, client[4]) for client, company_id in zip(DEMO_BUREAU_CLIENTS, client_ids, strict=True)]

    def usage(self):
        """Connections, subscriptions and reviews: who uses what, depending on industry and size."""
        rng = self.rng
        randoms = [slug for slug, profile in self.profiles.items() if profile["popularity"] > 0]
        cum_by_industry = {}
        for industry in INDUSTRIES:
            total, cum = 0.0, []
            for slug in randoms:
                profile = self.profiles[slug]
                weight = profile["popularity"] * (4.0 if industry in profile["industries"] else 1.0)
                if profile["industries"] and industry not in profile["industries"]:
                    weight *= 0.35
                total += weight
                cum.append(total)
            cum_by_industry[industry] = cum
        partner = {}
        for a, b in PAIRS:
            partner.setdefault(a, []).append(b)
            partner.setdefault(b, []).append(a)
        self.connections, self.subscriptions, self.reviews = [], [], []
        for i, (company_id, industry, size) in enumerate(self.companies_list):
            if i < len(DEMO_COMPANIES):
                for slug in DEMO_COMPANIES[i][4]:
                    self._use(company_id, slug, state="active", review=None)
                continue
            low, high = APPS_PER_SIZE[size]
            wanted = rng.randint(low, high)
            chosen = []
            for slug in rng.choices(randoms, cum_weights=cum_by_industry[industry], k=wanted):
                if slug not in chosen:
                    chosen.append(slug)
                for other in partner.get(slug, ()):
                    if other not in chosen and rng.random() < 0.6:
                        chosen.append(other)
            for slug in chosen:
                self._use(company_id, slug)
        for company_id, slugs in self.bureau_clients:
            for slug in slugs:
                self._use(company_id, slug, state="active", review=None)
        generated = [company_id for company_id, _, _ in self.companies_list[len(DEMO_COMPANIES):]]
        # 9 active customers with top ratings: one short of Recommended.
        users = rng.sample(generated, 14)
        for n, company_id in enumerate(users):
            self._use(company_id, NEAR_MISS_ACTIVE[0], state="active" if n < 9 else "dormant",
                      review=5 if n < 9 else None)
        # Many active customers, average exactly 2.9: short of Recommended by the rating.
        users = rng.sample(generated, 25)
        for n, company_id in enumerate(users):
            stars = NEAR_MISS_RATING_STARS[n] if n < len(NEAR_MISS_RATING_STARS) else None
            self._use(company_id, NEAR_MISS_RATING[0], state="active", review=stars)
        # The demo developer's paid app has customers, but never the two demo companies.
        for company_id in rng.sample(generated, 14):
            self._use(company_id, "time-tracker-pro", state=rng.choice(("active", "active", "trialing")))
        _batched_insert(Connection, self.connections)
        _batched_insert(Subscription, self.subscriptions)
        subscription_history.record_imported()  # the dashboard's MRR history of the imported ones
        _batched_insert(Review, self.reviews)

    def _use(self, company_id, slug, state=None, review="draw"):
        rng = self.rng
        app_id = self.app_ids[slug]
        profile = self.profiles[slug]
        if state is None:
            roll = rng.random()
            state = ("active" if roll < 0.74 else "trialing" if roll < 0.80 else "past_due" if roll < 0.84
                     else "canceled" if roll < 0.91 else "dormant")
        if profile["free"] and state in ("trialing", "past_due"):
            state = "active"
        started = rng.randint(3, 700) if state != "trialing" else rng.randint(1, 12)
        if state in Subscription.LIVE_STATUSES:  # used lately; "dormant" and "canceled" are not
            last_used = self.days_ago(rng.randint(0, 27), rng.randint(0, 23))
        else:
            last_used = self.days_ago(rng.randint(35, 200))
        admin = self.admin_of.get(company_id)
        self.connections.append({
            "company": company_id, "app": app_id, "scopes": "companyinformation customer invoice",
            "consented_by": admin, "consented_at": self.days_ago(started), "last_used_at": last_used,
            "revoked_at": self.days_ago(rng.randint(1, 30)) if state == "canceled" else None,
            "imported": True, "created_at": self.days_ago(started)})
        if not profile["free"]:
            plan_id, price = self.plans[app_id]
            status = {"dormant": "active"}.get(state, state)
            period_start = self.days_ago(rng.randint(0, 29))
            self.subscriptions.append({
                "company": company_id, "app": app_id, "plan": plan_id, "status": status, "price_ore": price,
                "current_period_start": period_start,
                "current_period_end": period_start + datetime.timedelta(days=30),
                "trial_end": self.days_ago(-14) if status == "trialing" else None,
                "canceled_at": self.days_ago(rng.randint(1, 30)) if status == "canceled" else None,
                "ended_at": self.days_ago(rng.randint(0, 20)) if status == "canceled" else None,
                "past_due_since": self.days_ago(rng.randint(1, 4)) if status == "past_due" else None,
                "imported": True, "created_at": self.days_ago(started), "updated_at": self.days_ago(0)})
        if review == "draw":
            review = None
            if rng.random() < 0.45:
                review = min(5, max(1, round(rng.gauss(profile["quality"], 0.9))))
        if review is not None:
            when = self.days_ago(rng.randint(0, max(0, started - 1)))
            self.reviews.append({"company": company_id, "app": app_id, "user": admin, "stars": review,
                                 "text": rng.choice(REVIEW_TEXTS[review]), "imported": True,
                                 "created_at": when, "updated_at": when})

    def accounting_data(self):
        """The platform's own data the API serves: customers and invoices."""
        rng = self.rng
        customers = []
        owners = self.companies_list[:len(DEMO_COMPANIES) + 20]
        for i, (company_id, _, _) in enumerate(owners):
            count = 15 if i < len(DEMO_COMPANIES) else 4
            for n in range(1, count + 1):
                name = f"{rng.choice(SURNAMES)} {rng.choice(INDUSTRY_WORDS[rng.choice(INDUSTRIES)])} AB"
                customers.append({"company": company_id, "customer_number": str(n), "name": name,
                                  "email": f"faktura{n}@kund{company_id}.example.com",
                                  "org_number": luhn_org_number(500000 + company_id * 100 + n),
                                  "city": rng.choice(CITIES), "created_at": self.days_ago(400 - n)})
        _batched_insert(CompanyCustomer, customers)
        customer_ids = {}
        for customer_id, company_id in (CompanyCustomer.select(CompanyCustomer.id, CompanyCustomer.company)
                                        .order_by(CompanyCustomer.id).tuples()):
            customer_ids.setdefault(company_id, []).append(customer_id)
        invoices = []
        today = self.now.date()
        for i, (company_id, _, _) in enumerate(owners):
            count = 30 if i < len(DEMO_COMPANIES) else 6
            for n in range(1, count + 1):
                date = today - datetime.timedelta(days=rng.randint(0, 360))
                invoices.append({"company": company_id, "document_number": str(1000 + n),
                                 "customer": rng.choice(customer_ids[company_id]), "invoice_date": date,
                                 "due_date": date + datetime.timedelta(days=30),
                                 "total_ore": rng.randint(50, 250000) * 100, "booked": rng.random() < 0.8})
        _batched_insert(CompanyInvoice, invoices)

    def test_companies(self):
        """Every developer's test company, made last so no customer data lands in one."""
        for developer in Developer.select().order_by(Developer.id):
            companies.create_test_company(developer)

    def run(self):
        steps = [("categories", self.categories), ("developers", self.developers), ("apps", self.apps),
                 ("icons", self.icons),
                 ("OAuth clients", self.oauth_clients), ("companies", self.companies), ("bureau", self.bureau), ("usage", self.usage),
                 ("accounting data", self.accounting_data), ("test companies", self.test_companies)]
        for label, step in steps:
            with db.atomic():
                step()
            if self.scale:
                self.echo(f"  seeded {label}")
        # Seeded logins and imported companies' people are confirmed (issue N), before the
        # figures below count their companies as verified customers.
        User.update(confirmed_at=User.created_at).where(User.confirmed_at.is_null()).execute()
        store.index_all()
        # The figures and the precomputed neighbours; it bumps the store generation last.
        rebuild.rebuild_everything(self.config["BILLING_GRACE_DAYS"], now=self.now)


DEMO_DEVELOPER_APPS = ("time-tracker-pro", "sample-integration", "kalkyl-bygg", "snabblan-direkt")


def demo_app_slugs():
    """The slugs of the apps the seed makes (not the extra ones of --scale): the demo serves a
    landing page for each at the sample integration."""
    return ([row[0] for row in CATALOGUE] + [NEAR_MISS_ACTIVE[0], NEAR_MISS_RATING[0]]
            + [row[0] for row in NOT_FOR_SALE] + list(DEMO_DEVELOPER_APPS))


def seed_demo(config, scale=None, echo=print):
    """Seed the demo data once; returns a summary. A database that already has the demo logins
    is left alone."""
    if User.select().where(User.email == "customer@demo.test").exists():
        return "The demo data is already there; nothing seeded."
    if scale is not None and scale < 1:
        raise ValueError("--scale must be at least 1")
    seeder = _Seeder(config, scale, echo)
    seeder.run()
    published = App.select().where(App.status == "published").count()
    return (f"Seeded {published} published apps in {Category.select().count()} categories, "
            f"{Company.select().count()} companies, {len(seeder.connections)} connections, "
            f"{len(seeder.subscriptions)} subscriptions and {len(seeder.reviews)} reviews. "
            f"Demo logins (password {PASSWORD}): customer@demo.test, {DEMO_MEMBER}, other@demo.test, "
            f"{DEMO_BUREAU[3]} (a bureau in four companies), developer@demo.test, admin@demo.test.")
