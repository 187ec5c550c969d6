"""The market's one schema (DESIGN.md §4). Tables are made by migrations/, never at start-up.

Times are naive UTC datetimes (`utcnow()`); money is integer öre.
"""
import secrets

from peewee import (
    SQL,
    AutoField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    IntegrityError,
    Model,
    NodeList,
    SqliteDatabase,
    TextField,
)

from market.core.clock import utcnow  # noqa: F401  (the schema's defaults; rooms import it from here too)

db = DatabaseProxy()


def new_public_id():
    return secrets.token_urlsafe(12)


class NeverReusedAutoField(AutoField):
    """An id no later row is ever given again, even after its row is deleted: on SQLite the
    primary key is AUTOINCREMENT (plain INTEGER PRIMARY KEY hands a deleted highest id to the
    next row); PostgreSQL's sequences never go back anyway. For users, companies and login
    sessions, whose ids must never come to mean someone else (issue O, finding 1)."""

    def ddl(self, ctx):
        node_list = super().ddl(ctx)
        database = getattr(self.model._meta.database, "obj", self.model._meta.database)
        if isinstance(database, SqliteDatabase):
            return NodeList((node_list, SQL("AUTOINCREMENT")))
        return node_list


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


class MarketSetting(BaseModel):
    """Values that belong to one database: the installation id (prefix of every Stripe
    idempotency key, so two databases talking to one Stripe never share keys) and the store
    generation (bumped by every change to the store's data; visitor pages are cached per
    generation)."""
    name = CharField(primary_key=True, max_length=64)
    value = TextField()


class Developer(BaseModel):
    """A vendor company that lists apps and is paid through Stripe Connect."""
    id = AutoField()
    name = CharField(max_length=120)
    org_number = CharField(max_length=16, null=True)
    stripe_account_id = CharField(max_length=64, null=True, unique=True)
    # `transfers` capability active: destination charges need it (DESIGN.md §5).
    payouts_enabled = BooleanField(default=False)
    stripe_details_submitted = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)
    # `account.application.deauthorized`: the developer disconnected its account from the
    # platform; no payouts (and no Buy) until it connects a new one.
    stripe_deauthorized_at = DateTimeField(null=True)
    # `created` of the last `account.updated` applied, so an older one arriving late is ignored.
    stripe_account_event_created = IntegerField(null=True)


class Company(BaseModel):
    """A customer company of the platform; its users buy, activate and consent."""
    id = NeverReusedAutoField()
    # Opaque id shown to apps (activation `company` parameter); never the row id.
    public_id = CharField(max_length=32, unique=True, default=new_public_id)
    name = CharField(max_length=120)
    org_number = CharField(max_length=16, unique=True)
    industry = CharField(max_length=40, index=True)
    size = CharField(max_length=16)
    stripe_customer_id = CharField(max_length=64, null=True, unique=True)
    # Consent to show the company's name with its reviews / its org number to developers.
    show_name_in_reviews = BooleanField(default=False)
    share_org_number = BooleanField(default=False)
    imported = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)
    # A developer's own company for trying its unpublished apps: never billed, never a customer.
    test_of_developer = ForeignKeyField(Developer, null=True, unique=True, backref="test_companies",
                                        on_delete="CASCADE")
    # The address the registration came from (bursts of ratings from one address, /admin/reports).
    registered_from = CharField(max_length=64, null=True, index=True)


class User(BaseModel):
    id = NeverReusedAutoField()
    email = CharField(max_length=254, unique=True)
    password_hash = CharField(max_length=255)
    name = CharField(max_length=120, default="")
    company = ForeignKeyField(Company, null=True, backref="users", on_delete="CASCADE")
    company_role = CharField(max_length=10, null=True)  # admin | member
    developer = ForeignKeyField(Developer, null=True, backref="users", on_delete="CASCADE")
    is_platform_admin = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)
    # When the person followed the registration mail's link (issue N); invited people, seeded
    # and imported accounts are confirmed from the start. Unconfirmed: no buying, consent,
    # rating, inviting or submitting.
    confirmed_at = DateTimeField(null=True)
    registered_from = CharField(max_length=64, null=True)  # the address that registered
    # The language the person chose on /account ("sv" or "en"); none: the browser decides.
    # Mail to the person is written in it, else in Swedish (issue Q).
    language = CharField(max_length=5, null=True)

    @property
    def is_company_admin(self):
        return self.company_id is not None and self.company_role == "admin"


class LoginFailure(BaseModel):
    """Failed logins per account and per address, for throttling across all servers."""
    id = AutoField()
    key = CharField(max_length=300, index=True)  # "email:<addr>" or "ip:<addr>"
    at = DateTimeField(default=utcnow, index=True)


class AccountToken(BaseModel):
    """Single-use expiring links: password reset, invitation, email change."""
    id = AutoField()
    kind = CharField(max_length=16)  # reset | invite | email | confirm
    token_hash = CharField(max_length=64, unique=True)
    user = ForeignKeyField(User, null=True, on_delete="CASCADE")
    company = ForeignKeyField(Company, null=True, on_delete="CASCADE")
    email = CharField(max_length=254, default="")
    role = CharField(max_length=10, null=True)
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)


class OutboxMail(BaseModel):
    """Mail sent outside production lands here (shown at /dev/outbox)."""
    id = AutoField()
    to = CharField(max_length=254, index=True)
    subject = CharField(max_length=200)
    body = TextField()
    created_at = DateTimeField(default=utcnow)


class Category(BaseModel):
    id = AutoField()
    slug = CharField(max_length=40, unique=True)
    name = CharField(max_length=60)
    position = IntegerField(default=0)


APP_STATUSES = ("draft", "in_review", "published", "rejected", "suspended")


class App(BaseModel):
    id = AutoField()
    developer = ForeignKeyField(Developer, backref="apps", on_delete="CASCADE")
    slug = CharField(max_length=60, unique=True)
    name = CharField(max_length=80)
    vendor_name = CharField(max_length=120, null=True)  # shown as the app's vendor; NULL: the developer's name
    tagline = CharField(max_length=140, default="")
    # `description` is what the developer wrote; `description_html` its sanitised rendering.
    description = TextField(default="")
    description_html = TextField(default="")
    # English texts beside them (issue Q 4), shown on the English interface; empty: the ones above.
    tagline_en = CharField(max_length=140, default="")
    description_en = TextField(default="")
    description_html_en = TextField(default="")
    category = ForeignKeyField(Category, backref="apps", null=True, on_delete="SET NULL")
    icon = CharField(max_length=200, null=True)
    landing_url = CharField(max_length=500, null=True)
    webhook_url = CharField(max_length=500, null=True)
    is_free = BooleanField(default=True)
    # Cheapest plan in öre excl. moms (0 for free apps): the store sorts and filters on it.
    min_price_ore = IntegerField(default=0, index=True)
    status = CharField(max_length=12, default="draft", index=True)
    rejection_reason = TextField(default="")
    featured = BooleanField(default=False)
    stripe_product_id = CharField(max_length=64, null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    published_at = DateTimeField(null=True, index=True)
    # The rich listing (issue P 5): support (an e-mail address or URL), website, privacy policy,
    # and the screenshots' file names (space-separated, in order; stored like icons).
    support = CharField(max_length=500, default="")
    website_url = CharField(max_length=500, null=True)
    privacy_url = CharField(max_length=500, null=True)
    screenshots = TextField(default="")


class AppStats(BaseModel):
    """Aggregates kept current on the events that change them (DESIGN.md §7), so the store
    never counts subscriptions per request."""
    app = ForeignKeyField(App, primary_key=True, backref="stats_rows", on_delete="CASCADE")
    active_customers = IntegerField(default=0, index=True)
    paying_customers = IntegerField(default=0)
    new_customers_30d = IntegerField(default=0)
    rating_sum = IntegerField(default=0)
    rating_count = IntegerField(default=0)
    stars_1 = IntegerField(default=0)
    stars_2 = IntegerField(default=0)
    stars_3 = IntegerField(default=0)
    stars_4 = IntegerField(default=0)
    stars_5 = IntegerField(default=0)
    # rating_sum * 100 // rating_count, kept so the store can sort by rating with an index.
    rating_centi = IntegerField(default=0, index=True)
    updated_at = DateTimeField(default=utcnow)


class Plan(BaseModel):
    id = AutoField()
    app = ForeignKeyField(App, backref="plans", on_delete="CASCADE")
    name = CharField(max_length=60)
    price_ore = IntegerField()  # per month, excluding moms
    currency = CharField(max_length=3, default="sek")
    trial_days = IntegerField(default=0)
    # Null after a price change: billing makes a new Stripe price; subscribers keep theirs.
    stripe_price_id = CharField(max_length=64, null=True)
    active = BooleanField(default=True)
    position = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)
    description = TextField(default="")  # what the plan gives: one feature a line


class PlanPriceChange(BaseModel):
    id = AutoField()
    plan = ForeignKeyField(Plan, backref="price_changes", on_delete="CASCADE")
    old_price_ore = IntegerField()
    new_price_ore = IntegerField()
    changed_at = DateTimeField(default=utcnow)


class OAuthClient(BaseModel):
    """The app's OAuth client. The secret is kept only as a keyed SHA-256 (DESIGN.md §6)."""
    id = AutoField()
    app = ForeignKeyField(App, unique=True, backref="oauth_clients", on_delete="CASCADE")
    client_id = CharField(max_length=64, unique=True)
    client_secret_hash = CharField(max_length=64, null=True)
    secret_rotated_at = DateTimeField(null=True)
    redirect_uris = TextField(default="")  # one per line
    scopes = TextField(default="")  # space separated
    is_public = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "oauth_client"


class Connection(BaseModel):
    """The grant a company gave an app (DESIGN.md §3)."""
    id = AutoField()
    company = ForeignKeyField(Company, backref="connections", on_delete="CASCADE")
    app = ForeignKeyField(App, backref="connections", on_delete="CASCADE")
    scopes = TextField(default="")
    consented_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    consented_at = DateTimeField(default=utcnow)
    # Written at most once an hour per connection (DESIGN.md §3).
    last_used_at = DateTimeField(null=True, index=True)
    revoked_at = DateTimeField(null=True)
    imported = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("company", "app"), True),)


class AuthorizationCode(BaseModel):
    id = AutoField()
    code_hash = CharField(max_length=64, unique=True)
    client = ForeignKeyField(OAuthClient, on_delete="CASCADE")
    connection = ForeignKeyField(Connection, on_delete="CASCADE")
    user = ForeignKeyField(User, null=True, on_delete="SET NULL")
    redirect_uri = TextField()
    scope = TextField(default="")
    code_challenge = CharField(max_length=128, null=True)
    code_challenge_method = CharField(max_length=8, null=True)
    offline = BooleanField(default=False)  # access_type=offline: a refresh token too
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)


class OAuthToken(BaseModel):
    """An access token and (optionally) its refresh token, both stored as hashes."""
    id = AutoField()
    client = ForeignKeyField(OAuthClient, on_delete="CASCADE")
    connection = ForeignKeyField(Connection, backref="tokens", on_delete="CASCADE")
    code = ForeignKeyField(AuthorizationCode, null=True, on_delete="SET NULL")
    # All tokens descending from one authorization code share a family; replay revokes it.
    family = CharField(max_length=64, index=True)
    access_token_hash = CharField(max_length=64, unique=True)
    refresh_token_hash = CharField(max_length=64, unique=True, null=True)
    scope = TextField(default="")
    issued_at = DateTimeField(default=utcnow)
    access_expires_at = DateTimeField()
    refresh_expires_at = DateTimeField(null=True)
    # When this token's refresh token was exchanged (the start of the grace window).
    rotated_at = DateTimeField(null=True)
    revoked_at = DateTimeField(null=True)

    class Meta:
        table_name = "oauth_token"


class CheckoutAttempt(BaseModel):
    """Each Buy: the Checkout Session it opened (at most one open per company and app)."""
    id = AutoField()
    company = ForeignKeyField(Company, on_delete="CASCADE")
    app = ForeignKeyField(App, on_delete="CASCADE")
    plan = ForeignKeyField(Plan, on_delete="CASCADE")
    user = ForeignKeyField(User, null=True, on_delete="SET NULL")
    attempt = IntegerField(default=1)
    stripe_session_id = CharField(max_length=100, null=True, unique=True)
    url = TextField(null=True)
    status = CharField(max_length=10, default="open", index=True)  # open | complete | expired
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField(null=True)
    completed_at = DateTimeField(null=True)
    # The Stripe price the session charges: an open session is reused only at the same price.
    stripe_price_id = CharField(max_length=64, null=True)


SUBSCRIPTION_STATUSES = ("incomplete", "incomplete_expired", "trialing", "active", "past_due",
                         "canceled", "unpaid", "paused")


class Subscription(BaseModel):
    """A company's subscription to an app's plan, mirroring Stripe's (DESIGN.md §5).

    The status vocabulary lives here, one name per set, so no module spells a set out:
    LIVE is "not over" (the company's current subscription), ENTITLING entitles without
    question, DUNNING entitles only within the grace (market.billing.dunning owns that rule),
    ENDED never comes back."""
    LIVE_STATUSES = ("trialing", "active", "past_due")
    ENTITLING_STATUSES = ("trialing", "active")
    DUNNING_STATUSES = ("past_due",)
    OVERDUE_STATUSES = ("past_due", "unpaid")  # the developer's "payment problems" list
    ENDED_STATUSES = ("canceled", "incomplete_expired", "unpaid")
    PAYING_STATUSES = ("active", "past_due")  # what counts in MRR: billed, trial over
    CONVERTED_STATUSES = ("active", "past_due", "unpaid")  # a trial that turned into a billed subscription
    CLOSED_STATUSES = ("canceled", "incomplete_expired")  # the app is told subscription.canceled

    id = AutoField()
    company = ForeignKeyField(Company, backref="subscriptions", on_delete="CASCADE")
    app = ForeignKeyField(App, backref="subscriptions", on_delete="CASCADE")
    plan = ForeignKeyField(Plan, null=True, on_delete="SET NULL")
    status = CharField(max_length=20, index=True)
    stripe_subscription_id = CharField(max_length=64, null=True, unique=True)
    stripe_price_id = CharField(max_length=64, null=True)
    price_ore = IntegerField(default=0)  # what this subscription pays per month excl. moms
    current_period_start = DateTimeField(null=True)
    current_period_end = DateTimeField(null=True)
    trial_end = DateTimeField(null=True)
    cancel_at_period_end = BooleanField(default=False)
    canceled_at = DateTimeField(null=True)
    ended_at = DateTimeField(null=True)
    past_due_since = DateTimeField(null=True)
    # `created` of the newest Stripe event applied, so older events never move it backwards.
    stripe_event_created = IntegerField(default=0)
    imported = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("company", "app"), False),)


class StripeEvent(BaseModel):
    """Each webhook event once, under its unique id (DESIGN.md §5)."""
    id = AutoField()
    event_id = CharField(max_length=100, unique=True)
    type = CharField(max_length=80, index=True)
    account = CharField(max_length=64, null=True)
    created = IntegerField()
    received_at = DateTimeField(default=utcnow, index=True)
    payload = TextField()


class LedgerEntry(BaseModel):
    """One row per paid invoice; refunds and lost disputes are negative reversals.

    net + moms = gross and developer_share + platform_fee + moms = gross, to the öre."""
    id = AutoField()
    kind = CharField(max_length=10)  # payment | refund | dispute
    company = ForeignKeyField(Company, null=True, on_delete="SET NULL")
    app = ForeignKeyField(App, on_delete="CASCADE", index=True)
    developer = ForeignKeyField(Developer, on_delete="CASCADE", index=True)
    subscription = ForeignKeyField(Subscription, null=True, on_delete="SET NULL")
    stripe_invoice_id = CharField(max_length=64, null=True)
    stripe_charge_id = CharField(max_length=64, null=True, index=True)  # refunds summed per charge
    stripe_ref = CharField(max_length=100, unique=True)  # invoice, refund or dispute id
    currency = CharField(max_length=3, default="sek")
    net_ore = IntegerField()
    moms_ore = IntegerField()
    gross_ore = IntegerField()
    developer_share_ore = IntegerField()
    platform_fee_ore = IntegerField()
    stripe_fee_ore = IntegerField(null=True)  # the application fee Stripe actually took
    fee_mismatch = BooleanField(default=False)
    occurred_at = DateTimeField(index=True)
    created_at = DateTimeField(default=utcnow)
    # A refund's state at Stripe (pending | succeeded | failed | canceled); None for other rows.
    refund_status = CharField(max_length=20, null=True)


class Review(BaseModel):
    id = AutoField()
    company = ForeignKeyField(Company, on_delete="CASCADE")
    app = ForeignKeyField(App, backref="reviews", on_delete="CASCADE")
    user = ForeignKeyField(User, null=True, on_delete="SET NULL")
    stars = IntegerField()
    text = TextField(default="")
    imported = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow, index=True)
    updated_at = DateTimeField(default=utcnow)
    # Taken out of the totals by the admin (a suspected burst, /admin/reports).
    removed_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("company", "app"), True),)


class ReviewReply(BaseModel):
    id = AutoField()
    review = ForeignKeyField(Review, unique=True, backref="replies", on_delete="CASCADE")
    developer = ForeignKeyField(Developer, on_delete="CASCADE")
    text = TextField()
    created_at = DateTimeField(default=utcnow)


class ReviewReport(BaseModel):
    id = AutoField()
    review = ForeignKeyField(Review, backref="reports", on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="CASCADE")
    reason = TextField(default="")
    created_at = DateTimeField(default=utcnow)
    resolved_at = DateTimeField(null=True)


class CoUsage(BaseModel):
    """Top neighbours per app: companies that use `app` also use `neighbour` (DESIGN.md §7)."""
    id = AutoField()
    app = ForeignKeyField(App, on_delete="CASCADE")
    neighbour = ForeignKeyField(App, on_delete="CASCADE")
    score = IntegerField()  # companies using both

    class Meta:
        indexes = ((("app", "neighbour"), True),)


class CompanyCustomer(BaseModel):
    """The platform's own accounting data a company keeps (read and written by the API)."""
    id = AutoField()
    company = ForeignKeyField(Company, on_delete="CASCADE")
    customer_number = CharField(max_length=20)
    name = CharField(max_length=120)
    email = CharField(max_length=254, default="")
    org_number = CharField(max_length=16, default="")
    city = CharField(max_length=60, default="")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("company", "customer_number"), True),)


class CompanyInvoice(BaseModel):
    id = AutoField()
    company = ForeignKeyField(Company, on_delete="CASCADE")
    document_number = CharField(max_length=20)
    customer = ForeignKeyField(CompanyCustomer, on_delete="CASCADE")
    invoice_date = DateField()
    due_date = DateField()
    total_ore = IntegerField()
    currency = CharField(max_length=3, default="SEK")
    booked = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("company", "document_number"), True),)


class AppNotification(BaseModel):
    """Outbox of signed events to apps' webhook URLs, sent after the transaction commits."""
    id = AutoField()
    app = ForeignKeyField(App, on_delete="CASCADE")
    event_id = CharField(max_length=40, unique=True)
    type = CharField(max_length=40)
    payload = TextField()
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(default=utcnow, index=True)
    delivered_at = DateTimeField(null=True)
    last_error = TextField(default="")
    created_at = DateTimeField(default=utcnow)


class SegmentUsage(BaseModel):
    """How many companies of one industry and size use an app (a connection not revoked); the
    row with `app` NULL holds how many companies the segment has. Rebuilt with the co-usage
    table (seed, `stats-rebuild`), so a company's Recommended reads a few hundred kept rows
    instead of counting every connection of its industry on each request (bench/README.md)."""
    id = AutoField()
    industry = CharField(max_length=40)
    size = CharField(max_length=16)
    app = ForeignKeyField(App, null=True, on_delete="CASCADE")
    companies = IntegerField()

    class Meta:
        table_name = "segment_usage"
        indexes = ((("industry", "app", "size"), True),)


SUBSCRIPTION_CHANGE_KINDS = ("new", "expansion", "contraction", "churn", "reactivation", "trial_start",
                             "trial_conversion")


class SubscriptionChange(BaseModel):
    """A subscription's MRR history: one row each time its status or price moved what it adds
    to MRR (or a trial started), written in the transaction that changed the subscription
    (subscription_history.py). MRR at a moment is the sum of `mrr_after_ore` of each
    subscription's last change before it, so past months keep the price paid then."""
    id = AutoField()
    subscription = ForeignKeyField(Subscription, backref="changes", on_delete="CASCADE")
    company = ForeignKeyField(Company, on_delete="CASCADE")
    app = ForeignKeyField(App, on_delete="CASCADE")
    developer = ForeignKeyField(Developer, on_delete="CASCADE")
    at = DateTimeField()
    kind = CharField(max_length=20)  # one of SUBSCRIPTION_CHANGE_KINDS
    mrr_before_ore = IntegerField()
    mrr_after_ore = IntegerField()
    # Derived from an imported subscription's own dates (the old system kept no history).
    imported = BooleanField(default=False)

    class Meta:
        table_name = "subscription_change"
        indexes = ((("developer", "at"), False), (("subscription", "at"), False))


class PendingPlanChange(BaseModel):
    """A downgrade the company chose, waiting for the end of the paid period: Stripe's sandbox
    has no subscription schedules, so the sweep switches the price shortly before the renewal
    (billing.apply_due_plan_changes). At most one per subscription: a new choice replaces it."""
    id = AutoField()
    subscription = ForeignKeyField(Subscription, backref="pending_plan_changes", unique=True,
                                   on_delete="CASCADE")
    plan = ForeignKeyField(Plan, on_delete="CASCADE")
    effective_at = DateTimeField(index=True)  # the subscription's current_period_end when chosen
    created_at = DateTimeField(default=utcnow)
    # The agreed price (DESIGN.md §3): the Stripe price and amount the customer chose, applied
    # exactly, whatever the plan's price is by then. Null only in rows older than migration 007.
    stripe_price_id = CharField(max_length=64, null=True)
    price_ore = IntegerField(null=True)
    # Set when the developer retired the chosen plan: the change will not happen, and the row
    # stays so My apps can say so (data-notice="plan-retired").
    dropped_at = DateTimeField(null=True)

    class Meta:
        table_name = "pending_plan_change"


class ListingRevision(BaseModel):
    """Changes to a published listing, waiting for the admin: the published version stays live
    until the admin approves (market/catalog/revisions.py). `fields` is JSON of the proposed
    values of the fields that differ from the published ones. At most one pending per app (the
    partial unique index below); a newer edit replaces it."""
    id = AutoField()
    app = ForeignKeyField(App, backref="revisions", on_delete="CASCADE")
    fields = TextField()
    status = CharField(max_length=10, default="pending")  # pending | approved | rejected | withdrawn
    reason = TextField(default="")
    created_at = DateTimeField(default=utcnow)
    decided_at = DateTimeField(null=True)

    class Meta:
        table_name = "listing_revision"


ListingRevision.add_index(ListingRevision.index(ListingRevision.app, unique=True,
                                                where=(ListingRevision.status == "pending"),
                                                name="listing_revision_one_pending"))


class DisputeReversal(BaseModel):
    """A lost dispute's reversal of the developer's transfer, once per dispute ever: written
    with the stored event, then carried out at Stripe after the commit (status pending → done),
    so neither a redelivery after Stripe's 24 h idempotency window nor a lost event row makes
    a second one."""
    id = AutoField()
    dispute_id = CharField(max_length=100, unique=True)
    charge_id = CharField(max_length=64, null=True)
    amount_ore = IntegerField()
    status = CharField(max_length=10, default="pending")  # pending | done | skipped
    stripe_reversal_id = CharField(max_length=64, null=True)
    created_at = DateTimeField(default=utcnow)
    done_at = DateTimeField(null=True)

    class Meta:
        table_name = "dispute_reversal"


class LoginSession(BaseModel):
    """One login (issue O): the `market_session` cookie carries a random secret, signed, whose
    SHA-256 is kept here; the row's `public_id` names it on /account. Deleting the row ends the
    session (logout, log out everywhere, password change, account deletion)."""
    id = NeverReusedAutoField()
    public_id = CharField(max_length=32, unique=True, default=new_public_id)
    secret_hash = CharField(max_length=64, unique=True)
    user = ForeignKeyField(User, backref="login_sessions", on_delete="CASCADE")
    device = CharField(max_length=200, default="")
    address = CharField(max_length=64, default="")
    created_at = DateTimeField(default=utcnow)
    last_seen = DateTimeField(default=utcnow)  # written at most once per 5 minutes

    class Meta:
        table_name = "login_session"


class ConnectionUseDay(BaseModel):
    """A day (Europe/Stockholm date) on which a connection's tokens made API calls, written at
    most once a day per connection: a free app's verified customer used it on 3 days (DESIGN.md §3)."""
    id = AutoField()
    connection = ForeignKeyField(Connection, backref="use_days", on_delete="CASCADE")
    day = DateField()

    class Meta:
        table_name = "connection_use_day"
        indexes = ((("connection", "day"), True),)


class StatementMonth(BaseModel):
    """A developer's monthly statement as it stood when its month closed (issue U item 4): kept
    once, so a month once closed never changes; later events are booked in the open month."""
    id = AutoField()
    developer = ForeignKeyField(Developer, on_delete="CASCADE")
    month = CharField(max_length=7)  # YYYY-MM, a calendar month in Europe/Stockholm
    body = TextField()  # the statement's rows and payouts as JSON
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "statement_month"
        indexes = ((("developer", "month"), True),)


class ApiHealthDay(BaseModel):
    """An app's API calls of one day (UTC), added up from every worker's counters (issue U item 3)."""
    id = AutoField()
    app = ForeignKeyField(App, on_delete="CASCADE")
    day = DateField()
    calls = IntegerField(default=0)
    client_errors = IntegerField(default=0)  # 4xx, 429 included
    server_errors = IntegerField(default=0)  # 5xx
    throttled = IntegerField(default=0)  # 429
    refresh_failed = IntegerField(default=0)
    token_errors = IntegerField(default=0)
    jump_mailed_at = DateTimeField(null=True)  # at most one jump mail per app and day
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "api_health_day"
        indexes = ((("app", "day"), True),)


class ApiHealthLatency(BaseModel):
    """How many of an app's calls of a day took up to `bucket_ms` (a histogram, for the p95)."""
    id = AutoField()
    app = ForeignKeyField(App, on_delete="CASCADE")
    day = DateField()
    bucket_ms = IntegerField()
    calls = IntegerField(default=0)

    class Meta:
        table_name = "api_health_latency"
        indexes = ((("app", "day", "bucket_ms"), True),)


class ApiHealthThrottle(BaseModel):
    """How often a company's calls to an app were refused with 429 on a day."""
    id = AutoField()
    app = ForeignKeyField(App, on_delete="CASCADE")
    day = DateField()
    company = ForeignKeyField(Company, on_delete="CASCADE")
    throttled = IntegerField(default=0)

    class Meta:
        table_name = "api_health_throttle"
        indexes = ((("app", "day", "company"), True),)


class MailOnce(BaseModel):
    """One row per mail that must go out once per event (a receipt per invoice, a refund per
    refund id, a review decision per revision): written in the transaction that sends it, so a
    redelivered webhook or a second event about the same invoice mails nothing more."""
    id = AutoField()
    key = CharField(max_length=200, unique=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "mail_once"


class ScheduledPriceChange(BaseModel):
    """A plan's new price announced ahead (issue U, Deliver 1; market/billing/price_schedule.py):
    from `effective_on` (a Stockholm date) new buyers pay `new_price_ore`, and each subscription
    paying the old Stripe price moves at its first renewal on or after that date. Every
    subscriber was told when it was scheduled. At most one open (neither withdrawn nor applied)
    per plan; `applied_at` is when the plan itself took the new price."""
    id = AutoField()
    plan = ForeignKeyField(Plan, backref="scheduled_price_changes", on_delete="CASCADE")
    old_price_ore = IntegerField()
    new_price_ore = IntegerField()
    old_stripe_price_id = CharField(max_length=64)
    new_stripe_price_id = CharField(max_length=64)
    effective_on = DateField(index=True)
    created_at = DateTimeField(default=utcnow)
    withdrawn_at = DateTimeField(null=True)
    applied_at = DateTimeField(null=True)

    class Meta:
        table_name = "scheduled_price_change"


class MoneyBack(BaseModel):
    """A company's money back for an app (issue T): once per company and app, ever. Written
    before Stripe is asked, so two requests cannot both refund; `error` keeps what went wrong."""
    id = AutoField()
    company = ForeignKeyField(Company, backref="money_backs", on_delete="CASCADE")
    app = ForeignKeyField(App, backref="money_backs", on_delete="CASCADE")
    subscription = ForeignKeyField(Subscription, null=True, on_delete="SET NULL")
    user = ForeignKeyField(User, null=True, on_delete="SET NULL")
    error = TextField(default="")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "money_back"
        indexes = ((("company", "app"), True),)


class Membership(BaseModel):
    """Every company a user belongs to (issue T, bureaus); `User.company` is the current one,
    and its `company_role` the role there."""
    id = AutoField()
    user = ForeignKeyField(User, backref="memberships", on_delete="CASCADE")
    company = ForeignKeyField(Company, backref="memberships", on_delete="CASCADE")
    role = CharField(max_length=10)  # admin | member
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "membership"
        indexes = ((("user", "company"), True),)


class BureauCard(BaseModel):
    """A bureau's card saved once through Checkout in setup mode (issue T): the PaymentMethod on
    the bureau company's Stripe customer that pays its clients' bureau-paid subscriptions."""
    id = AutoField()
    company = ForeignKeyField(Company, backref="bureau_cards", on_delete="CASCADE", unique=True)
    stripe_payment_method_id = CharField(max_length=64)
    brand = CharField(max_length=20, default="")
    last4 = CharField(max_length=4, default="")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "bureau_card"


class BureauStep(BaseModel):
    """One client company in a bureau user's run of Activate or Buy for many clients (issue T):
    the queue lives here, server-side, so a reload or a forged form never changes which
    companies it acts for. state: waiting | done | needs_you | failed."""
    id = AutoField()
    user = ForeignKeyField(User, backref="bureau_steps", on_delete="CASCADE")
    company = ForeignKeyField(Company, on_delete="CASCADE")
    app = ForeignKeyField(App, on_delete="CASCADE")
    plan = ForeignKeyField(Plan, null=True, on_delete="SET NULL")
    payer = CharField(max_length=10, default="client")  # bureau | client (a free app: client)
    position = IntegerField(default=0)
    state = CharField(max_length=12, default="waiting")
    detail = TextField(default="")
    url = TextField(default="")  # where "needs you" sends the user (Checkout, the hosted confirmation)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "bureau_step"


class BureauSubscription(BaseModel):
    """A client's subscription paid by a bureau (issue T): made on the bureau's Stripe customer;
    the entitled company is still the client (the subscription's metadata.company_id)."""
    id = AutoField()
    stripe_subscription_id = CharField(max_length=64, unique=True)
    bureau = ForeignKeyField(Company, backref="paid_for_clients", on_delete="CASCADE")
    company = ForeignKeyField(Company, backref="paid_by_bureau", on_delete="CASCADE")
    app = ForeignKeyField(App, on_delete="CASCADE")
    user = ForeignKeyField(User, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "bureau_subscription"


class SubscriptionInvoice(BaseModel):
    """A subscription's invoice as Stripe last told the market of it (issue R), kept from the
    `invoice.*` webhook events (market.billing.invoice_records), so My apps lists invoices
    without asking Stripe while it renders. status: draft | open | paid | uncollectible | void;
    `created` is the invoice's own time at Stripe (UTC)."""
    id = AutoField()
    subscription = ForeignKeyField(Subscription, backref="invoice_records", on_delete="CASCADE")
    company = ForeignKeyField(Company, on_delete="CASCADE")
    stripe_invoice_id = CharField(max_length=64, unique=True)
    number = CharField(max_length=64, default="")
    status = CharField(max_length=20)
    total_ore = IntegerField(default=0)  # the invoice's total including moms
    created = DateTimeField()
    hosted_invoice_url = TextField(default="")
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "subscription_invoice"
        indexes = ((("subscription", "created"), False),)


MODELS = [
    MarketSetting, Developer, Company, User, LoginFailure, AccountToken, OutboxMail, Category,
    App, AppStats, Plan, PlanPriceChange, OAuthClient, Connection, AuthorizationCode, OAuthToken,
    CheckoutAttempt, Subscription, StripeEvent, LedgerEntry, Review, ReviewReply, ReviewReport,
    CoUsage, CompanyCustomer, CompanyInvoice, AppNotification, SegmentUsage, SubscriptionChange,
    PendingPlanChange, ListingRevision, DisputeReversal, LoginSession, ConnectionUseDay, StatementMonth,
    ApiHealthDay, ApiHealthLatency, ApiHealthThrottle, MailOnce, ScheduledPriceChange, MoneyBack,
    Membership, BureauCard, BureauStep, BureauSubscription, SubscriptionInvoice,
]

__all__ = ["db", "utcnow", "MODELS", "IntegrityError"] + [m.__name__ for m in MODELS]

