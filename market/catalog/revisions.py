"""Revisions: after approval, a change to what customers see or rely on waits for the admin.

A published (or suspended) app's listing, icon, integration settings (redirect URIs, scopes,
landing and webhook URLs) and plans (prices, new and retired plans, so free ↔ paid) are not
edited in place: each edit is saved as the app's one pending `ListingRevision`, holding the
proposed values of the fields that differ from the published ones. The published version stays
live (store, app page, OAuth client, API) until the admin approves; approval applies exactly the
stored values in one transaction. A newer edit replaces the pending revision (building on it);
the developer may withdraw it. An app never published is edited in place (listings.py).

Domain functions take explicit arguments and never read `request`; input errors raise
`companies.InvalidInput` and write nothing.
"""
import json

from market.accounts.companies import InvalidInput
from market.catalog import categories, listings, signals, store
from market.catalog.listings import ListingNotFound
from market.core import money, words
from market.data.database import is_postgres
from models import (
    App,
    AppStats,
    Category,
    Developer,
    IntegrityError,
    ListingRevision,
    OAuthClient,
    Plan,
    db,
    utcnow,
)

# The fields a revision may change, in the order the review shows them.
FIELDS = ("name", "vendor_name", "tagline", "description", "category", "support", "website_url", "privacy_url",
          "icon", "screenshots", "landing_url", "redirect_uris", "scopes", "webhook_url", "plans")
# Messages: the pages write them in the reader's language.
LABELS = {"name": words.marked("Name"), "vendor_name": words.marked("Vendor"), "tagline": words.marked("Tagline"),
          "description": words.marked("Description"), "category": words.marked("Category"),
          "support": words.marked("Support"), "website_url": words.marked("Website"),
          "privacy_url": words.marked("Privacy policy"), "icon": words.marked("Icon"),
          "screenshots": words.marked("Screenshots"), "landing_url": words.marked("Landing page"),
          "redirect_uris": words.marked("Redirect URIs"), "scopes": words.marked("Scopes"),
          "webhook_url": words.marked("Webhook"), "plans": words.marked("Plans and prices")}
LISTING_FIELDS = ("name", "vendor_name", "tagline", "description", "category", "support", "website_url",
                  "privacy_url")
# The App columns a revision sets as they are stored in it.
APP_COLUMNS = ("name", "vendor_name", "tagline", "icon", "landing_url", "webhook_url", "support", "website_url",
               "privacy_url")
REVIEWED_STATUSES = ("published", "suspended")


def under_review(listing):
    """An app the admin approved: its changes wait as a revision."""
    return listing.status in REVIEWED_STATUSES


# --- values --------------------------------------------------------------------------------

def _plan_value(plan):
    return {"id": plan.id, "name": plan.name, "price_ore": plan.price_ore, "trial_days": plan.trial_days,
            "description": plan.description or ""}


def published_values(listing):
    """What customers see now, in the revision's shape (JSON-friendly)."""
    listing = App.get_by_id(listing.id)
    client = OAuthClient.get_or_none(OAuthClient.app == listing)
    category = Category.get_or_none(Category.id == listing.category_id) if listing.category_id else None
    return {
        "name": listing.name, "vendor_name": listing.vendor_name or None, "tagline": listing.tagline,
        "description": listing.description, "category": category.slug if category else None,
        "support": listing.support or "", "website_url": listing.website_url or None,
        "privacy_url": listing.privacy_url or None, "screenshots": listings.screenshot_names(listing),
        "icon": listing.icon, "landing_url": listing.landing_url, "webhook_url": listing.webhook_url,
        "redirect_uris": [u for u in (client.redirect_uris if client else "").split("\n") if u],
        "scopes": (client.scopes if client else "").split(),
        "plans": [_plan_value(plan) for plan in listings.active_plans(listing)],
    }


def pending(listing):
    return ListingRevision.get_or_none(ListingRevision.app == listing.id, ListingRevision.status == "pending")


def changes(revision):
    return json.loads(revision.fields) if revision is not None else {}


def proposed_values(listing):
    """The published values with the pending revision's on top: what the developer's forms show."""
    values = published_values(listing)
    values.update(changes(pending(listing)))
    return values


def last_decision(listing):
    """The latest revision the admin decided or the developer withdrew, or None."""
    return (ListingRevision.select().where(ListingRevision.app == listing.id, ListingRevision.status != "pending")
            .order_by(ListingRevision.decided_at.desc(), ListingRevision.id.desc()).first())


# --- saving an edit ------------------------------------------------------------------------

def _lock_app(listing):
    """Serialise edits and decisions of one app across servers (PostgreSQL); SQLite's write
    transactions are BEGIN IMMEDIATE and already exclusive."""
    if is_postgres(db):
        App.select(App.id).where(App.id == listing.id).for_update().execute()


def _revise(listing, change):
    """Apply `change` (a function that edits the proposed values in place) and keep the result
    as the app's pending revision: only the fields that differ from the published ones. An
    edit that brings everything back to the published values withdraws the revision."""
    for attempt in range(2):
        try:
            with db.atomic():
                _lock_app(listing)
                published = published_values(listing)
                current = pending(listing)
                proposed = dict(published)
                proposed.update(changes(current))
                change(proposed)
                diff = {name: proposed[name] for name in FIELDS if proposed.get(name) != published.get(name)}
                now = utcnow()
                if not diff:
                    if current is not None:
                        _close(current, "withdrawn", "", now)
                    return None
                if current is not None:
                    # A newer edit replaces the pending revision.
                    ListingRevision.update(fields=json.dumps(diff), created_at=now).where(
                        ListingRevision.id == current.id).execute()
                    return ListingRevision.get_by_id(current.id)
                return ListingRevision.create(app=listing.id, fields=json.dumps(diff), created_at=now)
        except IntegrityError:
            # Another request made the pending revision between our read and insert: build on it.
            if attempt:
                raise
    return None  # pragma: no cover -- the loop returns or raises


def _close(revision, status, reason, now):
    return ListingRevision.update(status=status, reason=reason, decided_at=now).where(
        ListingRevision.id == revision.id, ListingRevision.status == "pending").execute()


def edit_listing(listing, data):
    """The listing form: in place before approval, a revision after. True when it waits for review."""
    if not under_review(listing):
        listings.update_listing(listing, data)
        return False
    fields = listings.check_listing(data)
    category = fields["category"]

    def change(values):
        for name in ("name", "vendor_name", "tagline", "description", "support", "website_url", "privacy_url"):
            values[name] = fields[name]
        values["category"] = category.slug if category is not None else None
    _revise(listing, change)
    return True


def edit_icon(directory, listing, data):
    if not under_review(listing):
        listings.save_icon(directory, listing, data)
        return False
    name = listings.store_icon_file(directory, data)

    def change(values):
        values["icon"] = name
    _revise(listing, change)
    return True


def add_screenshot(directory, listing, data):
    """A new screenshot at the end: in place before approval, in the revision after."""
    if not under_review(listing):
        listings.add_screenshot(directory, listing, data)
        return False
    name = listings.store_screenshot_file(directory, data, len(proposed_values(listing)["screenshots"]))

    def change(values):
        if len(values["screenshots"]) >= listings.MAX_SCREENSHOTS:
            raise InvalidInput({"screenshot": words.Phrase(words.marked("An app may have at most %(n)s screenshots."),
                                                           n=listings.MAX_SCREENSHOTS)})
        values["screenshots"] = [*values["screenshots"], name]
    _revise(listing, change)
    return True


def remove_screenshot(listing, name):
    if not under_review(listing):
        listings.remove_screenshot(listing, name)
        return False
    if name not in proposed_values(listing)["screenshots"]:
        raise ListingNotFound()

    def change(values):
        values["screenshots"] = [n for n in values["screenshots"] if n != name]
    _revise(listing, change)
    return True


def edit_integration(listing, data, scope_names):
    if not under_review(listing):
        listings.update_integration(listing, data, scope_names)
        return False
    checked = listings.check_integration(data, scope_names)
    _revise(listing, lambda values: values.update(checked))
    return True


def proposed_plans(listing):
    return proposed_values(listing)["plans"]


def _plan_index(plans, key):
    for index, plan in enumerate(plans):
        if str(plan["id"]) == str(key):
            return index
    raise ListingNotFound()


def add_plan(listing, data):
    if not under_review(listing):
        listings.add_plan(listing, data)
        return False
    fields = listings.check_plan(data)

    def change(values):
        plans = [dict(plan) for plan in values["plans"]]
        used = {str(plan["id"]) for plan in plans}
        number = 1
        while f"new{number}" in used:
            number += 1
        plans.append({"id": f"new{number}", **fields})
        values["plans"] = plans
    _revise(listing, change)
    return True


def edit_plan(listing, plan_key, data):
    """`plan_key` is a plan's id, or for a plan the pending revision adds, its key ("new1")."""
    if not under_review(listing):
        listings.update_plan(listing, listings.listing_plan(listing, plan_key), data)
        return False
    _plan_index(proposed_plans(listing), plan_key)  # unknown: not found, before checking the form
    fields = listings.check_plan(data)

    def change(values):
        plans = [dict(plan) for plan in values["plans"]]
        plans[_plan_index(plans, plan_key)].update(fields)
        values["plans"] = plans
    _revise(listing, change)
    return True


def retire_plan(listing, plan_key):
    if not under_review(listing):
        listings.retire_plan(listing, listings.listing_plan(listing, plan_key))
        return False
    _plan_index(proposed_plans(listing), plan_key)

    def change(values):
        plans = [dict(plan) for plan in values["plans"]]
        del plans[_plan_index(plans, plan_key)]
        values["plans"] = plans
    _revise(listing, change)
    return True


def forget_retired_plan(listing, plan_id):
    """A live plan was retired at once (billing.retirement): the pending revision no longer
    proposes anything for it, so its approval cannot bring the plan back."""
    revision = pending(listing)
    if revision is None or "plans" not in changes(revision):
        return

    def change(values):
        values["plans"] = [plan for plan in values["plans"] if plan["id"] != plan_id]
    _revise(listing, change)


def withdraw(listing):
    revision = pending(listing)
    if revision is None or not _close(revision, "withdrawn", "", utcnow()):
        raise InvalidInput({"revision": words.marked("There is no pending revision to withdraw.")})


# --- the preview ---------------------------------------------------------------------------

def preview_page(listing):
    """The store's app page as it will be once the pending revision (if any) is approved, or for
    an app never published as it will be once approved: the developer's preview and the admin's
    review show exactly this (store.AppPage, rendered by the store's own template)."""
    values = proposed_values(listing)
    fresh = App.get_by_id(listing.id)
    shown = App(id=fresh.id, slug=fresh.slug, developer=fresh.developer_id, status=fresh.status,
                name=values["name"], vendor_name=values["vendor_name"], tagline=values["tagline"],
                description=values["description"], description_html=listings.sanitise_description(values["description"]),
                icon=values["icon"], support=values["support"], website_url=values["website_url"],
                privacy_url=values["privacy_url"], screenshots=" ".join(values["screenshots"]),
                is_free=not values["plans"],
                min_price_ore=min((plan["price_ore"] for plan in values["plans"]), default=0),
                updated_at=pending(listing).created_at if pending(listing) is not None else fresh.updated_at,
                published_at=fresh.published_at)
    category = Category.get_or_none(Category.slug == values["category"]) if values["category"] else None
    stats = AppStats.get_or_none(AppStats.app == listing.id)
    developer_name = values["vendor_name"] or Developer.get_by_id(fresh.developer_id).name
    return store.listing_page(shown, developer_name, category.slug if category else None,
                              category.name if category else None, values["plans"], stats, values["scopes"],
                              values["screenshots"], preview=True)


# --- the admin's review --------------------------------------------------------------------

def queue():
    """Published apps with a pending revision, oldest first: (app, revision) pairs."""
    rows = (ListingRevision.select(ListingRevision, App, Developer)
            .join(App).join(Developer)
            .where(ListingRevision.status == "pending")
            .order_by(ListingRevision.created_at, ListingRevision.id))
    return [(row.app, row) for row in rows]


# A plan's line in the review, by whether it has a trial and whether the revision adds it.
PLAN_LINES = {(False, False): words.marked("%(plan)s: %(price)s"),
              (True, False): words.marked("%(plan)s: %(price)s, %(n)s trial days"),
              (False, True): words.marked("%(plan)s: %(price)s (new plan)"),
              (True, True): words.marked("%(plan)s: %(price)s, %(n)s trial days (new plan)")}


def _plan_lines(plans, locale):
    lines = []
    for plan in plans:
        message = PLAN_LINES[(bool(plan["trial_days"]), not isinstance(plan["id"], int))]
        lines.append(words.say(locale, message, plan=plan["name"], price=money.format_price(plan["price_ore"], locale),
                               n=plan["trial_days"]))
        lines.extend(f"  · {line}" for line in (plan.get("description") or "").split("\n") if line)
    return "\n".join(lines)


def _shown(listing, name, value):
    """A field's value as the review shows it (plain text; the template escapes it): the stored
    value as it is, or the market's words (a words.Phrase, which the page says in the reader's
    language: `said()`)."""
    if name == "vendor_name":
        return value or words.Phrase(words.marked("%(name)s (the developer's name)"),
                                     name=Developer.get_by_id(listing.developer_id).name)
    if name == "category":
        category = Category.get_or_none(Category.slug == value) if value else None
        if category is None:
            return words.Phrase(words.marked("No category"))
        # A known category in the reader's words; the text is data, so it is no msgid of its own.
        return words.Phrase("%(name)s", name=lambda locale: categories.category_name(category, locale))
    if name == "icon":
        return f"/icons/{value}" if value else words.Phrase(words.marked("No icon"))
    if name == "screenshots":
        return "\n".join(listings.screenshot_url(n) for n in value) or words.Phrase(words.marked("No screenshots"))
    if name in ("redirect_uris", "scopes"):
        return "\n".join(value) or "—"
    if name == "plans":
        if not value:
            return words.Phrase(words.marked("Free (no plans)"))
        return words.Phrase("%(lines)s", lines=lambda locale: _plan_lines(value, locale))
    return value if value not in (None, "") else "—"


def diff_rows(listing, revision):
    """(field, label, published, proposed) for every field the revision changes."""
    published = published_values(listing)
    proposed = changes(revision)
    return [(name, LABELS[name], _shown(listing, name, published.get(name)), _shown(listing, name, proposed[name]))
            for name in FIELDS if name in proposed]


def _apply_plans(listing, plans):
    current = {plan.id: plan for plan in listings.active_plans(listing)}
    kept = {plan["id"] for plan in plans if isinstance(plan["id"], int)}
    for plan_id in set(current) - kept:
        Plan.update(active=False).where(Plan.id == plan_id).execute()
    for position, proposed in enumerate(plans):
        fields = {"name": proposed["name"], "price_ore": proposed["price_ore"], "trial_days": proposed["trial_days"],
                  "description": proposed.get("description", "")}
        if isinstance(proposed["id"], int):
            plan = current.get(proposed["id"])
            if plan is None:
                raise InvalidInput({"status": words.marked(
                    "A plan the revision changes is gone; reject it with the reason.")})
            listings.apply_plan_fields(plan, fields)  # a new price: a new Stripe price for new buyers
            Plan.update(position=position).where(Plan.id == plan.id).execute()
        else:
            Plan.create(app=listing.id, position=position, **fields)
    listings.sync_price_summary(listing)


def approve(listing):
    """Apply exactly the stored values, all or nothing, and refresh the store."""
    with db.atomic():
        _lock_app(listing)
        revision = pending(listing)
        if revision is None or not under_review(listing):
            raise InvalidInput({"status": words.marked("There is no pending revision to approve. Reload the page.")})
        proposed = changes(revision)
        done_before = {key for key, _, done in listings.checklist(App.get_by_id(listing.id)) if done}
        app_fields = {}
        for name in APP_COLUMNS:
            if name in proposed:
                app_fields[name] = proposed[name] if proposed[name] is not None or name != "support" else ""
        if "screenshots" in proposed:
            app_fields["screenshots"] = " ".join(proposed["screenshots"])
        if "description" in proposed:
            app_fields["description"] = proposed["description"]
            app_fields["description_html"] = listings.sanitise_description(proposed["description"])
            # The English text translated the old description: left in place, English readers
            # would go on reading what the admin did not approve. Without it they read the new one.
            app_fields.update(description_en="", description_html_en="")
        if "tagline" in proposed:
            app_fields["tagline_en"] = ""
        if "category" in proposed:
            app_fields["category"] = (Category.get_or_none(Category.slug == proposed["category"])
                                      if proposed["category"] else None)
        if app_fields:
            App.update(updated_at=utcnow(), **app_fields).where(App.id == listing.id).execute()
        if "redirect_uris" in proposed or "scopes" in proposed:
            client = listings.oauth_client(listing, create=True)
            client_fields = {}
            if "redirect_uris" in proposed:
                client_fields["redirect_uris"] = "\n".join(proposed["redirect_uris"])
            if "scopes" in proposed:
                client_fields["scopes"] = " ".join(proposed["scopes"])
            OAuthClient.update(**client_fields).where(OAuthClient.id == client.id).execute()
            if "scopes" in proposed and set(client.scopes.split()) - set(proposed["scopes"]):
                # A scope taken away is taken from every grant at once (the oauth room).
                signals.scopes_narrowed.send(App.get_by_id(listing.id), scopes=list(proposed["scopes"]),
                                             now=utcnow())
        fresh = App.get_by_id(listing.id)
        if "plans" in proposed:
            _apply_plans(fresh, proposed["plans"])
        done_after = {key for key, _, done in listings.checklist(fresh) if done}
        if done_before - done_after:
            # A revision may not undo a step of the publishing checklist (an imported app that
            # never met one is not held to it by an unrelated change).
            raise InvalidInput({"status": words.marked("With this revision the app would not meet the checklist; "
                                                       "reject it with the reason.")})
        if not _close(revision, "approved", "", utcnow()):
            raise InvalidInput({"status": words.marked("The revision changed meanwhile. Reload the page.")})
        listings.store_changed(fresh)
    for name in ("name", "vendor_name", "tagline", "tagline_en", "description", "description_html",
                 "description_en", "description_html_en", "icon", "landing_url", "webhook_url", "category_id", "is_free", "min_price_ore", "updated_at", "support", "website_url",
                 "privacy_url", "screenshots"):
        setattr(listing, name, getattr(fresh, name))
    return listing


def reject(listing, reason):
    """The published version stays; the developer sees the reason on its app page."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput({"reason": words.marked("Tell the developer why the revision is rejected.")})
    reason = reason.strip()
    if len(reason) > listings.MAX_REASON:
        raise InvalidInput({"reason": words.Phrase(words.marked("The reason may have at most %(n)s characters."),
                                                   n=listings.MAX_REASON)})
    revision = pending(listing)
    if revision is None or not _close(revision, "rejected", reason, utcnow()):
        raise InvalidInput({"status": words.marked("There is no pending revision to reject. Reload the page.")})
    return revision


def pending_count():
    """How many published apps have changes waiting (the admin dashboard's queue count)."""
    return ListingRevision.select().where(ListingRevision.status == "pending").count()


def pending_app_ids(developer):
    """Ids of the developer's apps with changes waiting (its app list marks them)."""
    return {row.app_id for row in ListingRevision.select(ListingRevision.app)
            .join(App).where(App.developer == developer, ListingRevision.status == "pending")}
