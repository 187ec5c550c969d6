"""A developer's apps from first draft to published listing: the listing, its plans, its OAuth
client, the publishing checklist, review, suspension. Domain functions take explicit
arguments (developer, app, config values) and never read `request`.

Input errors raise `companies.InvalidInput` (one message per field) and write nothing.
"""
import os
import re
import secrets
import struct
import zlib
from urllib.parse import urlsplit

from babel.numbers import format_decimal

from market.accounts.companies import InvalidInput, parse_id
from market.catalog import store
from market.core import credentials, money, words
from market.core.scopes import SCOPES
from market.outbound import http as outbound_http
from models import (
    App,
    AppStats,
    Category,
    Developer,
    IntegrityError,
    OAuthClient,
    Plan,
    PlanPriceChange,
    db,
    utcnow,
)

MAX_NAME, MAX_TAGLINE, MAX_DESCRIPTION, MAX_URL, MAX_VENDOR = 80, 140, 20_000, 500, 120
MAX_REDIRECT_URIS, MAX_REASON, MAX_PLAN_NAME = 10, 2_000, 60
MAX_PRICE_ORE = 10_000_000  # 100 000 kr a month: anything above is a typo
MAX_TRIAL_DAYS = 90
MAX_ICON_BYTES = 256 * 1024
# Screenshots: under the 2 MiB a request may carry (app.py, MAX_CONTENT_LENGTH) with the form around it.
MAX_SCREENSHOTS, MAX_SCREENSHOT_BYTES = 6, 1536 * 1024
MIN_SCREENSHOT_SIDE, MAX_SCREENSHOT_SIDE = 64, 8192
MAX_PLAN_DESCRIPTION = 2_000
EMAIL_RE = re.compile(r"^[^@\s<>\"'(),;:]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,58})[a-z0-9]$")
# Slugs that would collide with the developer pages' own paths.
RESERVED_SLUGS = {"new"}
ICON_NAME_RE = re.compile(r"^[0-9a-f]{32}\.(?:png|jpg|webp)$")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class ListingNotFound(Exception):
    pass


def _text(value):
    return value.strip() if isinstance(value, str) else ""


def _number(value):
    """A limit in a message, as the reader's language writes it ("20 000", "20,000"; "1,5")."""
    return lambda locale: format_decimal(value, locale=words.supported(locale) or words.DEFAULT)


def _at_most(message, limit):
    return words.Phrase(message, n=_number(limit))


# --- texts ---------------------------------------------------------------------------------

def sanitise_description(text):
    """One sanitiser for the whole market: the store's (QUALITY.md 29)."""
    return store.sanitise_description(text)


# Each address field's messages, whole sentences as each language words them: (when it is
# missing, when it is not one address or too long, what is wrong with it: %(problem)s).
URL_MESSAGES = {
    "website_url": (words.marked("Enter the website's address."),
                    words.marked("The website's address must be one address of at most %(n)s characters."),
                    words.marked("The website's address: %(problem)s")),
    "privacy_url": (words.marked("Enter the privacy policy's address."),
                    words.marked("The privacy policy's address must be one address of at most %(n)s characters."),
                    words.marked("The privacy policy's address: %(problem)s")),
    "support": (words.marked("Enter the support address."),
                words.marked("The support address must be one address of at most %(n)s characters."),
                words.marked("The support address: %(problem)s")),
    "landing_url": (words.marked("Enter the landing page URL."),
                    words.marked("The landing page URL must be one address of at most %(n)s characters."),
                    words.marked("The landing page URL: %(problem)s")),
    "webhook_url": (words.marked("Enter the webhook URL."),
                    words.marked("The webhook URL must be one address of at most %(n)s characters."),
                    words.marked("The webhook URL: %(problem)s")),
}


def check_url(raw, errors, field, required=False):
    """https anywhere, or http on this machine (development); no credentials or fragments.
    `field` names the messages too (URL_MESSAGES)."""
    missing, not_one, wrong = URL_MESSAGES[field]
    url = _text(raw)
    if not url:
        if required:
            errors[field] = missing
        return None
    if len(url) > MAX_URL or any(c.isspace() for c in url):
        errors[field] = words.Phrase(not_one, n=MAX_URL)
        return None
    problem = url_problem(url)
    if problem:
        errors[field] = words.Phrase(wrong, problem=problem)
        return None
    return url


def url_problem(url):
    """What is wrong with the address (a words.Phrase, lowercase: it follows a colon), or None."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 -- raises on a malformed port
    except ValueError:
        return words.Phrase(words.marked("not a valid address."))
    if "#" in url:
        return words.Phrase(words.marked("an address may not contain a fragment (#)."))
    if not host:
        return words.Phrase(words.marked("enter a full address starting with https://."))
    if parts.username is not None or parts.password is not None:
        return words.Phrase(words.marked("an address may not contain a user name or password."))
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and host in LOOPBACK_HOSTS:
        return None
    return words.Phrase(words.marked("use https (plain http only on 127.0.0.1 or localhost)."))


# --- the listing ---------------------------------------------------------------------------

def categories():
    return list(Category.select().order_by(Category.position, Category.name))


def _check_listing(data, errors):
    name = _text(data.get("name"))
    if not name:
        errors["name"] = words.marked("Enter the app's name.")
    elif len(name) > MAX_NAME:
        errors["name"] = _at_most(words.marked("The name may have at most %(n)s characters."), MAX_NAME)
    tagline = _text(data.get("tagline"))
    if len(tagline) > MAX_TAGLINE:
        errors["tagline"] = _at_most(words.marked("The tagline may have at most %(n)s characters."), MAX_TAGLINE)
    description = data.get("description") if isinstance(data.get("description"), str) else ""
    description = description.replace("\r\n", "\n").strip()
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = _at_most(words.marked("The description may have at most %(n)s characters."),
                                         MAX_DESCRIPTION)
    vendor_name = _text(data.get("vendor_name")) or None
    if vendor_name and len(vendor_name) > MAX_VENDOR:
        errors["vendor_name"] = _at_most(words.marked("The vendor name may have at most %(n)s characters."),
                                         MAX_VENDOR)
    category = None
    slug = _text(data.get("category"))
    if slug:
        category = Category.get_or_none(Category.slug == slug)
        if category is None:
            errors["category"] = words.marked("Choose a category from the list.")
    support = check_support(data.get("support"), errors)
    website = check_url(data.get("website_url"), errors, "website_url")
    privacy = check_url(data.get("privacy_url"), errors, "privacy_url")
    return {"name": name, "vendor_name": vendor_name, "tagline": tagline, "description": description,
            "description_html": sanitise_description(description), "category": category,
            "support": support, "website_url": website, "privacy_url": privacy}


def check_support(raw, errors):
    """Where customers get help: an e-mail address or a web address ("" for none yet)."""
    value = _text(raw)
    if not value:
        return ""
    if "@" in value and "/" not in value:
        if len(value) > MAX_URL or not EMAIL_RE.match(value):
            errors["support"] = words.marked("Support: enter an e-mail address like support@example.com, "
                                             "or a web address.")
            return ""
        return value
    return check_url(value, errors, "support") or ""


def check_listing(data):
    """The listing form's values, checked (InvalidInput otherwise)."""
    errors = {}
    fields = _check_listing(data, errors)
    if errors:
        raise InvalidInput(errors)
    return fields


def check_slug(raw, errors):
    slug = _text(raw)
    if not SLUG_RE.match(slug) or "--" in slug:
        errors["slug"] = words.marked("The address name must be 3–60 characters of lowercase a–z, 0–9 and "
                                      "single hyphens, starting and ending with a letter or digit.")
    elif slug in RESERVED_SLUGS or App.select().where(App.slug == slug).exists():
        errors["slug"] = words.marked("That address name is taken. Choose another.")
    return slug


def create_listing(developer, data):
    """A draft app with its OAuth client (no secret yet: it is shown once, when made)."""
    errors = {}
    slug = check_slug(data.get("slug"), errors)
    fields = _check_listing(data, errors)
    if errors:
        raise InvalidInput(errors)
    try:
        with db.atomic():
            listing = App.create(developer=developer, slug=slug, status="draft", **fields)
            AppStats.create(app=listing)
            OAuthClient.create(app=listing, client_id="app_" + secrets.token_hex(12))
    except IntegrityError:
        raise InvalidInput({"slug": words.marked("That address name is taken. Choose another.")}) from None
    return listing


def update_listing(listing, data):
    """In place: for an app never published (after approval, catalog.revisions decides)."""
    fields = check_listing(data)
    fields["updated_at"] = utcnow()
    # An English text translated the old Swedish one; a changed text would leave it stale.
    if fields.get("description", listing.description) != listing.description:
        fields.update(description_en="", description_html_en="")
    if fields.get("tagline", listing.tagline) != listing.tagline:
        fields["tagline_en"] = ""
    App.update(**fields).where(App.id == listing.id).execute()
    for name, value in fields.items():
        setattr(listing, name, value)
    store_changed(listing)
    return listing


def developer_apps(developer):
    return list(App.select().where(App.developer == developer).order_by(App.created_at.desc(), App.id.desc()))


def developer_app(developer, slug):
    """The developer's own app; another developer's slug is simply not found."""
    listing = None
    if isinstance(slug, str) and SLUG_RE.match(slug):
        listing = App.get_or_none(App.slug == slug, App.developer == developer)
    if listing is None:
        raise ListingNotFound()
    return listing


def store_changed(listing):
    """The store's cache and search index follow every change to a listing that shows (or
    showed) there."""
    if listing.status not in ("published", "suspended"):
        return
    store.index_app(listing)
    store.bump_store_generation()


# --- icon ----------------------------------------------------------------------------------

def icon_type(data):
    """The image type from the file's first bytes, never from its name."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def store_icon_file(directory, data):
    """The checked image stored under a random name in `directory` (ICON_DIR, default
    instance/icons); returns the name."""
    if not data:
        raise InvalidInput({"icon": words.marked("Choose an image file to upload.")})
    if len(data) > MAX_ICON_BYTES:
        raise InvalidInput({"icon": _at_most(words.marked("The icon may be at most %(n)s kB."), MAX_ICON_BYTES // 1024)})
    kind = icon_type(data)
    if kind is None:
        raise InvalidInput({"icon": words.marked("The icon must be a PNG, JPEG or WebP image.")})
    os.makedirs(directory, exist_ok=True)
    name = f"{secrets.token_hex(16)}.{kind}"
    with open(os.path.join(directory, name), "wb") as out:
        out.write(data)
    return name


def save_icon(directory, listing, data):
    """In place: the app's icon is replaced at once."""
    name = store_icon_file(directory, data)
    old = listing.icon
    App.update(icon=name, updated_at=utcnow()).where(App.id == listing.id).execute()
    listing.icon = name
    if old and ICON_NAME_RE.match(old):
        try:
            os.remove(os.path.join(directory, old))
        except FileNotFoundError:
            pass
    store_changed(listing)
    return name


def icon_url(listing):
    return f"/icons/{listing.icon}" if listing.icon else None


# --- screenshots ---------------------------------------------------------------------------

def _png_size(data):
    """(width, height) from a PNG's IHDR chunk, its CRC checked; None if it is not one."""
    if len(data) < 33 or data[12:16] != b"IHDR" or struct.unpack(">I", data[8:12])[0] != 13:
        return None
    if zlib.crc32(data[12:29]) & 0xFFFFFFFF != struct.unpack(">I", data[29:33])[0]:
        return None
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    if depth not in (1, 2, 4, 8, 16) or colour not in (0, 2, 3, 4, 6):
        return None
    return width, height


# JPEG markers that start a frame (and so carry its size): SOF0–SOF15 but DHT, JPG and DAC.
_SOF_MARKERS = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data):
    """(width, height) from a JPEG's frame header, walking its segments; None if none is found."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            at += 2
            continue
        length = struct.unpack(">H", data[at + 2:at + 4])[0]
        if length < 2:
            return None
        if marker in _SOF_MARKERS:
            if at + 9 > len(data) or length < 8:
                return None
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return width, height
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            return None
        at += 2 + length
    return None


def image_size(data):
    """("png" or "jpg", width, height) read from the image's own bytes (never its name), or None
    when it is neither a PNG nor a JPEG whose size can be read."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        size, kind = _png_size(data), "png"
    elif data.startswith(b"\xff\xd8\xff"):
        size, kind = _jpeg_size(data), "jpg"
    else:
        return None
    return (kind, *size) if size else None


def check_screenshot(data, count):
    """The screenshot's type, checked by content and size; `count` is how many the app has."""
    if count >= MAX_SCREENSHOTS:
        raise InvalidInput({"screenshot": words.Phrase(words.marked(
            "An app may have at most %(n)s screenshots. Remove one first."), n=MAX_SCREENSHOTS)})
    if not data:
        raise InvalidInput({"screenshot": words.marked("Choose an image file to upload.")})
    if len(data) > MAX_SCREENSHOT_BYTES:
        raise InvalidInput({"screenshot": _at_most(words.marked("A screenshot may be at most %(n)s MB."),
                                                   round(MAX_SCREENSHOT_BYTES / (1024 * 1024), 2))})
    read = image_size(data)
    if read is None:
        raise InvalidInput({"screenshot": words.marked("A screenshot must be a PNG or JPEG image.")})
    kind, width, height = read
    if not (MIN_SCREENSHOT_SIDE <= width <= MAX_SCREENSHOT_SIDE and MIN_SCREENSHOT_SIDE <= height <= MAX_SCREENSHOT_SIDE):
        raise InvalidInput({"screenshot": words.Phrase(words.marked(
            "A screenshot must be %(least)s–%(most)s pixels wide and high."),
            least=MIN_SCREENSHOT_SIDE, most=MAX_SCREENSHOT_SIDE)})
    return kind


def store_screenshot_file(directory, data, count):
    """The checked screenshot stored under a random name in `directory` (the icons'); its name."""
    kind = check_screenshot(data, count)
    os.makedirs(directory, exist_ok=True)
    name = f"{secrets.token_hex(16)}.{kind}"
    with open(os.path.join(directory, name), "wb") as out:
        out.write(data)
    return name


def screenshot_names(listing):
    return [name for name in (listing.screenshots or "").split() if ICON_NAME_RE.match(name)]


def screenshot_url(name):
    return f"/screenshots/{name}"


def _set_screenshots(listing, names):
    listing.screenshots = " ".join(names)
    App.update(screenshots=listing.screenshots, updated_at=utcnow()).where(App.id == listing.id).execute()
    store_changed(listing)


def add_screenshot(directory, listing, data):
    """In place (an app never published): the screenshot is added at the end."""
    names = screenshot_names(listing)
    name = store_screenshot_file(directory, data, len(names))
    _set_screenshots(listing, names + [name])
    return name


def remove_screenshot(listing, name):
    names = screenshot_names(listing)
    if name not in names:
        raise ListingNotFound()
    _set_screenshots(listing, [n for n in names if n != name])


# --- plans ---------------------------------------------------------------------------------

def parse_kronor(raw):
    """ "199" or "49,50" kronor → öre, within what a plan may cost a month. """
    ore = money.parse_kronor(_text(raw))
    if ore is None:
        raise ValueError(words.marked("Enter the price in kronor, like 199 or 49,50."))
    if ore < 100:
        raise ValueError(words.marked("A plan costs at least 1 kr a month. A free app has no plans."))
    if ore > MAX_PRICE_ORE:
        raise ValueError(words.marked("That price is higher than the market accepts."))
    return ore


def _check_plan(data, errors):
    name = _text(data.get("name"))
    if not name:
        errors["name"] = words.marked("Enter the plan's name.")
    elif len(name) > MAX_PLAN_NAME:
        errors["name"] = _at_most(words.marked("The plan's name may have at most %(n)s characters."), MAX_PLAN_NAME)
    try:
        price_ore = parse_kronor(data.get("price_kr"))
    except ValueError as problem:
        errors["price_kr"] = str(problem)  # a message of the catalogues (parse_kronor)
        price_ore = None
    trial_raw = _text(data.get("trial_days")) or "0"
    trial_days = int(trial_raw) if trial_raw.isdigit() and len(trial_raw) <= 3 else None
    if trial_days is None or trial_days > MAX_TRIAL_DAYS:
        errors["trial_days"] = words.Phrase(words.marked("Trial days must be a whole number from 0 to %(n)s."),
                                            n=MAX_TRIAL_DAYS)
    description = data.get("description") if isinstance(data.get("description"), str) else ""
    description = "\n".join(line.strip() for line in description.replace("\r\n", "\n").split("\n")
                            if line.strip())
    if len(description) > MAX_PLAN_DESCRIPTION:
        errors["description"] = _at_most(words.marked("The plan's description may have at most %(n)s characters."),
                                         MAX_PLAN_DESCRIPTION)
    return {"name": name, "price_ore": price_ore, "trial_days": trial_days, "description": description}


def active_plans(listing):
    return list(Plan.select().where(Plan.app == listing, Plan.active).order_by(Plan.position, Plan.id))


def sync_price_summary(listing):
    """`is_free` and `min_price_ore` follow the active plans: the store sorts and filters on them."""
    prices = [plan.price_ore for plan in active_plans(listing)]
    listing.is_free = not prices
    listing.min_price_ore = min(prices) if prices else 0
    App.update(is_free=listing.is_free, min_price_ore=listing.min_price_ore, updated_at=utcnow()).where(
        App.id == listing.id).execute()


def add_plan(listing, data):
    errors = {}
    fields = _check_plan(data, errors)
    if errors:
        raise InvalidInput(errors)
    with db.atomic():
        position = Plan.select().where(Plan.app == listing).count()
        plan = Plan.create(app=listing, position=position, **fields)
        sync_price_summary(listing)
    store_changed(listing)
    return plan


def listing_plan(listing, plan_id):
    plan_id = parse_id(plan_id)
    if plan_id is None:
        raise ListingNotFound()
    plan = Plan.get_or_none(Plan.id == plan_id, Plan.app == listing, Plan.active)
    if plan is None:
        raise ListingNotFound()
    return plan


def check_plan(data):
    """A plan form's values, checked (InvalidInput otherwise)."""
    errors = {}
    fields = _check_plan(data, errors)
    if errors:
        raise InvalidInput(errors)
    return fields


def apply_plan_fields(plan, fields):
    """A new price is recorded and the Stripe price forgotten: billing makes a new one, and
    subscribers keep the price they bought. Call inside a transaction."""
    fields = dict(fields)
    if fields["price_ore"] != plan.price_ore:
        PlanPriceChange.create(plan=plan, old_price_ore=plan.price_ore, new_price_ore=fields["price_ore"])
        fields["stripe_price_id"] = None
    Plan.update(**fields).where(Plan.id == plan.id).execute()
    for name, value in fields.items():
        setattr(plan, name, value)


def update_plan(listing, plan, data):
    fields = check_plan(data)
    with db.atomic():
        apply_plan_fields(plan, fields)
        sync_price_summary(listing)
    store_changed(listing)
    return plan


def retire_plan(listing, plan):
    """Retired, not deleted: subscriptions still point at it."""
    with db.atomic():
        Plan.update(active=False).where(Plan.id == plan.id).execute()
        sync_price_summary(listing)
    store_changed(listing)


# --- integration: landing page, redirect URIs, scopes, webhook -----------------------------

def oauth_client(listing, create=False):
    """The app's OAuth client. Pages only read: without `create`, an app that has none (an
    imported one) gets an unsaved blank, so a GET never writes."""
    client = OAuthClient.get_or_none(OAuthClient.app == listing)
    if client is None:
        client = OAuthClient(app=listing, client_id=None, redirect_uris="", scopes="")
        if create:
            client.client_id = "app_" + secrets.token_hex(12)
            client.save(force_insert=True)
    return client


def parse_redirect_uris(raw, errors):
    text = raw if isinstance(raw, str) else ""
    uris = []
    for line in text.replace("\r\n", "\n").split("\n"):
        uri = line.strip()
        if not uri:
            continue
        problem = (words.Phrase(words.marked("longer than %(n)s characters."), n=MAX_URL) if len(uri) > MAX_URL
                   else url_problem(uri))
        if problem is None and any(c.isspace() for c in uri):
            problem = words.Phrase(words.marked("an address may not contain spaces."))
        if problem:
            errors["redirect_uris"] = words.Phrase(words.marked("%(uri)s: %(problem)s"), uri=uri[:80], problem=problem)
            return []
        if uri not in uris:
            uris.append(uri)
    if len(uris) > MAX_REDIRECT_URIS:
        errors["redirect_uris"] = words.Phrase(words.marked("At most %(n)s redirect URIs."), n=MAX_REDIRECT_URIS)
    return uris


def parse_scopes(names, errors):
    names = [n for n in (names or []) if isinstance(n, str)]
    unknown = [n for n in names if n not in SCOPES]
    if unknown:
        errors["scopes"] = words.marked("Choose scopes from the list.")
        return []
    return [name for name in SCOPES if name in names]


def check_integration(data, scope_names):
    """The integration form's values, checked (InvalidInput otherwise): landing and webhook
    URLs (or None), the redirect URIs and the scopes as lists."""
    errors = {}
    landing = check_url(data.get("landing_url"), errors, "landing_url")
    webhook = check_url(data.get("webhook_url"), errors, "webhook_url")
    if webhook and (problem := outbound_http.destination_problem(webhook)):  # never a local address
        errors["webhook_url"] = words.Phrase(URL_MESSAGES["webhook_url"][2], problem=problem)
    uris = parse_redirect_uris(data.get("redirect_uris"), errors)
    chosen = parse_scopes(scope_names, errors)
    if errors:
        raise InvalidInput(errors)
    return {"landing_url": landing, "webhook_url": webhook, "redirect_uris": uris, "scopes": chosen}


def update_integration(listing, data, scope_names):
    checked = check_integration(data, scope_names)
    landing, webhook, uris, chosen = (checked["landing_url"], checked["webhook_url"], checked["redirect_uris"],
                                      checked["scopes"])
    with db.atomic():
        client = oauth_client(listing, create=True)
        App.update(landing_url=landing, webhook_url=webhook, updated_at=utcnow()).where(
            App.id == listing.id).execute()
        OAuthClient.update(redirect_uris="\n".join(uris), scopes=" ".join(chosen)).where(
            OAuthClient.id == client.id).execute()
    listing.landing_url, listing.webhook_url = landing, webhook
    store_changed(listing)
    return listing


def make_client_secret(secret_key, listing):
    """A new secret, returned once to be shown once; only its keyed hash is kept."""
    client = oauth_client(listing, create=True)
    secret = credentials.new_client_secret()
    OAuthClient.update(client_secret_hash=credentials.hash_client_secret(secret_key, secret),
                       secret_rotated_at=utcnow()).where(OAuthClient.id == client.id).execute()
    return secret


def landing_secret(secret_key, app):
    """The app's landing secret (DESIGN.md §6), from the app or its OAuth client: it signs the
    activation link and the app's notifications, and the developer's credentials page shows
    it. Derived from the server key and the client id; None while the app has no client."""
    client = app if isinstance(app, OAuthClient) else oauth_client(app)
    return credentials.landing_secret(secret_key, client.client_id) if client.client_id else None


# --- publishing ----------------------------------------------------------------------------

def checklist(listing):
    """What must hold before the app can be submitted: (key, label, done)."""
    client = oauth_client(listing)
    steps = [
        ("landing_url", words.marked("Landing page URL (activation goes through it)"), bool(listing.landing_url)),
        ("redirect_uris", words.marked("At least one OAuth redirect URI"), bool(client.redirect_uris.strip())),
        ("scopes", words.marked("At least one API scope"), bool(client.scopes.strip())),
        ("privacy_url", words.marked("Privacy policy URL (customers read it before they connect the app)"),
         bool(listing.privacy_url)),
    ]
    if not listing.is_free:
        developer = Developer.get_by_id(listing.developer_id)
        steps.append(("payouts", words.marked("Set up payouts (a Stripe account that can be paid)"), developer.payouts_enabled))
    return steps


def checklist_done(listing):
    return all(done for _, _, done in checklist(listing))


def _move(listing, from_statuses, **fields):
    """A status change that happens once even when two requests race for it."""
    fields.setdefault("updated_at", utcnow())
    moved = App.update(**fields).where(App.id == listing.id, App.status.in_(from_statuses)).execute()
    if moved:
        for name, value in fields.items():
            setattr(listing, name, value)
    return bool(moved)


def submit_for_review(listing):
    if listing.status not in ("draft", "rejected"):
        raise InvalidInput({"status": words.marked("Only a draft or rejected app can be submitted for review.")})
    if not checklist_done(listing):
        raise InvalidInput({"status": words.marked("Complete every step of the checklist before submitting.")})
    if not _move(listing, ("draft", "rejected"), status="in_review"):
        raise InvalidInput({"status": words.marked("The app's status changed meanwhile. Reload the page.")})
    return listing


def app_by_slug(slug):
    """Any app, for the platform admin; a malformed slug is not found without a query."""
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise ListingNotFound()
    listing = App.get_or_none(App.slug == slug)
    if listing is None:
        raise ListingNotFound()
    return listing


def review_queue():
    return list(App.select(App, Developer).join(Developer).where(App.status == "in_review")
                .order_by(App.updated_at, App.id))


def store_apps():
    return list(App.select(App, Developer).join(Developer).where(App.status.in_(("published", "suspended")))
                .order_by(App.name))


def approve(listing):
    if listing.status != "in_review":
        raise InvalidInput({"status": words.marked("Only an app in review can be approved.")})
    if not checklist_done(listing):
        raise InvalidInput({"status": words.marked("The app no longer meets the checklist; reject it with the reason.")})
    with db.atomic():
        if not _move(listing, ("in_review",), status="published", published_at=listing.published_at or utcnow(),
                     rejection_reason=""):
            raise InvalidInput({"status": words.marked("The app's status changed meanwhile. Reload the page.")})
        store_changed(listing)
    return listing


def reject(listing, reason):
    reason = _text(reason)
    if not reason:
        raise InvalidInput({"reason": words.marked("Tell the developer why the app is rejected.")})
    if len(reason) > MAX_REASON:
        raise InvalidInput({"reason": words.Phrase(words.marked("The reason may have at most %(n)s characters."),
                                                   n=MAX_REASON)})
    if listing.status != "in_review" or not _move(listing, ("in_review",), status="rejected",
                                                    rejection_reason=reason):
        raise InvalidInput({"status": words.marked("Only an app in review can be rejected.")})
    return listing


def suspend_app(listing):
    """Hidden from the store (issue H adds the billing effects)."""
    with db.atomic():
        if not _move(listing, ("published",), status="suspended"):
            raise InvalidInput({"status": words.marked("Only a published app can be suspended.")})
        store_changed(listing)
    return listing


def restore_app(listing):
    with db.atomic():
        if not _move(listing, ("suspended",), status="published"):
            raise InvalidInput({"status": words.marked("Only a suspended app can be restored.")})
        store_changed(listing)
    return listing


# ---------------------------------------------------------------------------- listing texts in two languages
def listing_text(app, locale):
    """(tagline, description_html) of `app` for a reader of `locale` (issue Q 4): the listing's
    English texts on the English interface where it carries them, else its own (Swedish) ones.
    The HTML is sanitised again on the way out, as the store's page does."""
    if locale == "en" and (app.tagline_en or app.description_en):
        return (app.tagline_en or app.tagline,
                sanitise_description(app.description_html_en or app.description_en or app.description_html
                                     or app.description))
    return app.tagline, sanitise_description(app.description_html or app.description)
