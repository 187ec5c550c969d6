"""Peewee migrations -- 001_initial.py.

Some examples (model - class or model name)::

    > Model = migrator.orm['table_name']            # Return model in current state by name
    > Model = migrator.ModelClass                   # Return model in current state by name

    > migrator.sql(sql)                             # Run custom SQL
    > migrator.run(func, *args, **kwargs)           # Run python function with the given args
    > migrator.create_model(Model)                  # Create a model (could be used as decorator)
    > migrator.remove_model(model, cascade=True)    # Remove a model
    > migrator.add_fields(model, **fields)          # Add fields (allow_not_null=True skips default)
    > migrator.change_fields(model, **fields)       # Change fields
    > migrator.remove_fields(model, *field_names, cascade=True)
    > migrator.rename_field(model, old_field_name, new_field_name)
    > migrator.rename_table(model, new_table_name)
    > migrator.add_index(model, *col_names, unique=False)
    > migrator.add_not_null(model, *field_names)
    > migrator.add_default(model, field_name, default)
    > migrator.add_constraint(model, name, sql)
    > migrator.drop_index(model, *col_names)
    > migrator.drop_not_null(model, *field_names)
    > migrator.drop_constraints(model, *constraints)

"""

import secrets
from contextlib import suppress

import peewee as pw
from peewee_migrate import Migrator


with suppress(ImportError):
    import playhouse.postgres_ext as pw_pext


def migrate(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your migrations here."""
    
    @migrator.create_model
    class Company(pw.Model):
        id = pw.AutoField()
        public_id = pw.CharField(max_length=32, unique=True)
        name = pw.CharField(max_length=120)
        org_number = pw.CharField(max_length=16, unique=True)
        industry = pw.CharField(index=True, max_length=40)
        size = pw.CharField(max_length=16)
        stripe_customer_id = pw.CharField(max_length=64, null=True, unique=True)
        show_name_in_reviews = pw.BooleanField(default=False)
        share_org_number = pw.BooleanField(default=False)
        imported = pw.BooleanField(default=False)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "company"

    @migrator.create_model
    class Developer(pw.Model):
        id = pw.AutoField()
        name = pw.CharField(max_length=120)
        org_number = pw.CharField(max_length=16, null=True)
        stripe_account_id = pw.CharField(max_length=64, null=True, unique=True)
        payouts_enabled = pw.BooleanField(default=False)
        stripe_details_submitted = pw.BooleanField(default=False)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "developer"

    @migrator.create_model
    class User(pw.Model):
        id = pw.AutoField()
        email = pw.CharField(max_length=254, unique=True)
        password_hash = pw.CharField(max_length=255)
        name = pw.CharField(default='', max_length=120)
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], null=True, on_delete='CASCADE')
        company_role = pw.CharField(max_length=10, null=True)
        developer = pw.ForeignKeyField(column_name='developer_id', field='id', model=migrator.orm['developer'], null=True, on_delete='CASCADE')
        is_platform_admin = pw.BooleanField(default=False)
        session_epoch = pw.IntegerField(default=0)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "user"

    @migrator.create_model
    class AccountToken(pw.Model):
        id = pw.AutoField()
        kind = pw.CharField(max_length=16)
        token_hash = pw.CharField(max_length=64, unique=True)
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['user'], null=True, on_delete='CASCADE')
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], null=True, on_delete='CASCADE')
        email = pw.CharField(default='', max_length=254)
        role = pw.CharField(max_length=10, null=True)
        created_at = pw.DateTimeField()
        expires_at = pw.DateTimeField()
        used_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "account_token"

    @migrator.create_model
    class Category(pw.Model):
        id = pw.AutoField()
        slug = pw.CharField(max_length=40, unique=True)
        name = pw.CharField(max_length=60)
        position = pw.IntegerField(default=0)

        class Meta:
            table_name = "category"

    @migrator.create_model
    class App(pw.Model):
        id = pw.AutoField()
        developer = pw.ForeignKeyField(column_name='developer_id', field='id', model=migrator.orm['developer'], on_delete='CASCADE')
        slug = pw.CharField(max_length=60, unique=True)
        name = pw.CharField(max_length=80)
        tagline = pw.CharField(default='', max_length=140)
        description = pw.TextField(default='')
        description_html = pw.TextField(default='')
        category = pw.ForeignKeyField(column_name='category_id', field='id', model=migrator.orm['category'], null=True, on_delete='SET NULL')
        icon = pw.CharField(max_length=200, null=True)
        landing_url = pw.CharField(max_length=500, null=True)
        webhook_url = pw.CharField(max_length=500, null=True)
        is_free = pw.BooleanField(default=True)
        min_price_ore = pw.IntegerField(default=0, index=True)
        status = pw.CharField(default='draft', index=True, max_length=12)
        rejection_reason = pw.TextField(default='')
        featured = pw.BooleanField(default=False)
        stripe_product_id = pw.CharField(max_length=64, null=True)
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()
        published_at = pw.DateTimeField(index=True, null=True)

        class Meta:
            table_name = "app"

    @migrator.create_model
    class AppNotification(pw.Model):
        id = pw.AutoField()
        app = pw.ForeignKeyField(column_name='app_id', field='id', model=migrator.orm['app'], on_delete='CASCADE')
        event_id = pw.CharField(max_length=40, unique=True)
        type = pw.CharField(max_length=40)
        payload = pw.TextField()
        attempts = pw.IntegerField(default=0)
        next_attempt_at = pw.DateTimeField(index=True)
        delivered_at = pw.DateTimeField(null=True)
        last_error = pw.TextField(default='')
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "app_notification"

    @migrator.create_model
    class AppStats(pw.Model):
        app = pw.ForeignKeyField(column_name='app_id', field='id', model=migrator.orm['app'], on_delete='CASCADE', primary_key=True)
        active_customers = pw.IntegerField(default=0, index=True)
        paying_customers = pw.IntegerField(default=0)
        new_customers_30d = pw.IntegerField(default=0)
        rating_sum = pw.IntegerField(default=0)
        rating_count = pw.IntegerField(default=0)
        stars_1 = pw.IntegerField(default=0)
        stars_2 = pw.IntegerField(default=0)
        stars_3 = pw.IntegerField(default=0)
        stars_4 = pw.IntegerField(default=0)
        stars_5 = pw.IntegerField(default=0)
        rating_centi = pw.IntegerField(default=0, index=True)
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "app_stats"

    @migrator.create_model
    class OAuthClient(pw.Model):
        id = pw.AutoField()
        app = pw.ForeignKeyField(column_name='app_id', field='id', model=migrator.orm['app'], on_delete='CASCADE', unique=True)
        client_id = pw.CharField(max_length=64, unique=True)
        client_secret_hash = pw.CharField(max_length=64, null=True)
        secret_rotated_at = pw.DateTimeField(null=True)
        redirect_uris = pw.TextField(default='')
        scopes = pw.TextField(default='')
        is_public = pw.BooleanField(default=False)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "oauth_client"

    @migrator.create_model
    class Connection(pw.Model):
        id = pw.AutoField()
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], on_delete='CASCADE')
        app = pw.ForeignKeyField(column_name='app_id', field='id', model=migrator.orm['app'], on_delete='CASCADE')
        scopes = pw.TextField(default='')
        consented_by = pw.ForeignKeyField(column_name='consented_by_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        consented_at = pw.DateTimeField()
        last_used_at = pw.DateTimeField(index=True, null=True)
        revoked_at = pw.DateTimeField(null=True)
        imported = pw.BooleanField(default=False)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "connection"
            indexes = [(('company', 'app'), True)]

    @migrator.create_model
    class AuthorizationCode(pw.Model):
        id = pw.AutoField()
        code_hash = pw.CharField(max_length=64, unique=True)
        client = pw.ForeignKeyField(column_name='client_id', field='id', model=migrator.orm['oauth_client'], on_delete='CASCADE')
        connection = pw.ForeignKeyField(column_name='connection_id', field='id', model=migrator.orm['connection'], on_delete='CASCADE')
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        redirect_uri = pw.TextField()
        scope = pw.TextField(default='')
        code_challenge = pw.CharField(max_length=128, null=True)
        code_challenge_method = pw.CharField(max_length=8, null=True)
        offline = pw.BooleanField(default=False)
        created_at = pw.DateTimeField()
        expires_at = pw.DateTimeField()
        used_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "authorization_code"

    @migrator.create_model
    class Plan(pw.Model):
        id = pw.AutoField()
        app = pw.ForeignKeyField(column_name='app_id', field='id', model=migrator.orm['app'], on_delete='CASCADE')
        name = pw.CharField(max_length=60)
        price_ore = pw.IntegerField()
        currency = pw.CharField(default='sek', max_length=3)
        trial_days = pw.IntegerField(default=0)
        stripe_price_id = pw.CharField(max_length=64, null=True)
        active = pw.BooleanField(default=True)
        position = pw.IntegerField(default=0)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "plan"

    @migrator.create_model
    class CheckoutAttempt(pw.Model):
        id = pw.AutoField()
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], on_delete='CASCADE')
        app = pw.ForeignKeyField(column_name='app_id', field='id', model=migrator.orm['app'], on_delete='CASCADE')
        plan = pw.ForeignKeyField(column_name='plan_id', field='id', model=migrator.orm['plan'], on_delete='CASCADE')
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        attempt = pw.IntegerField(default=1)
        stripe_session_id = pw.CharField(max_length=100, null=True, unique=True)
        url = pw.TextField(null=True)
        status = pw.CharField(default='open', index=True, max_length=10)
        created_at = pw.DateTimeField()
        expires_at = pw.DateTimeField(null=True)
        completed_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "checkout_attempt"

    @migrator.create_model
    class CompanyCustomer(pw.Model):
        id = pw.AutoField()
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], on_delete='CASCADE')
        customer_number = pw.CharField(max_length=20)
        name = pw.CharField(max_length=120)
        email = pw.CharField(default='', max_length=254)
        org_number = pw.CharField(default='', max_length=16)
        city = pw.CharField(default='', max_length=60)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "company_customer"
            indexes = [(('company', 'customer_number'), True)]

    @migrator.create_model
    class CompanyInvoice(pw.Model):
        id = pw.AutoField()
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], on_delete='CASCADE')
        document_number = pw.CharField(max_length=20)
        customer = pw.ForeignKeyField(column_name='customer_id', field='id', model=migrator.orm['company_customer'], on_delete='CASCADE')
        invoice_date = pw.DateField()
        due_date = pw.DateField()
        total_ore = pw.IntegerField()
        currency = pw.CharField(default='SEK', max_length=3)
        booked = pw.BooleanField(default=False)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "company_invoice"
            indexes = [(('company', 'document_number'), True)]

    @migrator.create_model
    class CoUsage(pw.Model):
        id = pw.AutoField()
        app = pw.ForeignKeyField(column_name='app_id', field='id', model=migrator.orm['app'], on_delete='CASCADE')
        neighbour = pw.ForeignKeyField(column_name='neighbour_id', field='id', model=migrator.orm['app'], on_delete='CASCADE')
        score = pw.IntegerField()

        class Meta:
            table_name = "co_usage"
            indexes = [(('app', 'neighbour'), True)]

    @migrator.create_model
    class Subscription(pw.Model):
        id = pw.AutoField()
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], on_delete='CASCADE')
        app = pw.ForeignKeyField(column_name='app_id', field='id', model=migrator.orm['app'], on_delete='CASCADE')
        plan = pw.ForeignKeyField(column_name='plan_id', field='id', model=migrator.orm['plan'], null=True, on_delete='SET NULL')
        status = pw.CharField(index=True, max_length=20)
        stripe_subscription_id = pw.CharField(max_length=64, null=True, unique=True)
        stripe_price_id = pw.CharField(max_length=64, null=True)
        price_ore = pw.IntegerField(default=0)
        current_period_start = pw.DateTimeField(null=True)
        current_period_end = pw.DateTimeField(null=True)
        trial_end = pw.DateTimeField(null=True)
        cancel_at_period_end = pw.BooleanField(default=False)
        canceled_at = pw.DateTimeField(null=True)
        ended_at = pw.DateTimeField(null=True)
        past_due_since = pw.DateTimeField(null=True)
        stripe_event_created = pw.IntegerField(default=0)
        imported = pw.BooleanField(default=False)
        created_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "subscription"
            indexes = [(('company', 'app'), False)]

    @migrator.create_model
    class LedgerEntry(pw.Model):
        id = pw.AutoField()
        kind = pw.CharField(max_length=10)
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], null=True, on_delete='SET NULL')
        app = pw.ForeignKeyField(column_name='app_id', field='id', model=migrator.orm['app'], on_delete='CASCADE')
        developer = pw.ForeignKeyField(column_name='developer_id', field='id', model=migrator.orm['developer'], on_delete='CASCADE')
        subscription = pw.ForeignKeyField(column_name='subscription_id', field='id', model=migrator.orm['subscription'], null=True, on_delete='SET NULL')
        stripe_invoice_id = pw.CharField(max_length=64, null=True)
        stripe_charge_id = pw.CharField(max_length=64, null=True)
        stripe_ref = pw.CharField(max_length=100, unique=True)
        currency = pw.CharField(default='sek', max_length=3)
        net_ore = pw.IntegerField()
        moms_ore = pw.IntegerField()
        gross_ore = pw.IntegerField()
        developer_share_ore = pw.IntegerField()
        platform_fee_ore = pw.IntegerField()
        stripe_fee_ore = pw.IntegerField(null=True)
        fee_mismatch = pw.BooleanField(default=False)
        occurred_at = pw.DateTimeField(index=True)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "ledger_entry"

    @migrator.create_model
    class LoginFailure(pw.Model):
        id = pw.AutoField()
        key = pw.CharField(index=True, max_length=300)
        at = pw.DateTimeField(index=True)

        class Meta:
            table_name = "login_failure"

    @migrator.create_model
    class MarketSetting(pw.Model):
        name = pw.CharField(max_length=64, primary_key=True)
        value = pw.TextField()

        class Meta:
            table_name = "market_setting"

    @migrator.create_model
    class OAuthToken(pw.Model):
        id = pw.AutoField()
        client = pw.ForeignKeyField(column_name='client_id', field='id', model=migrator.orm['oauth_client'], on_delete='CASCADE')
        connection = pw.ForeignKeyField(column_name='connection_id', field='id', model=migrator.orm['connection'], on_delete='CASCADE')
        code = pw.ForeignKeyField(column_name='code_id', field='id', model=migrator.orm['authorization_code'], null=True, on_delete='SET NULL')
        family = pw.CharField(index=True, max_length=64)
        access_token_hash = pw.CharField(max_length=64, unique=True)
        refresh_token_hash = pw.CharField(max_length=64, null=True, unique=True)
        scope = pw.TextField(default='')
        issued_at = pw.DateTimeField()
        access_expires_at = pw.DateTimeField()
        refresh_expires_at = pw.DateTimeField(null=True)
        rotated_at = pw.DateTimeField(null=True)
        revoked_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "oauth_token"

    @migrator.create_model
    class OutboxMail(pw.Model):
        id = pw.AutoField()
        to = pw.CharField(index=True, max_length=254)
        subject = pw.CharField(max_length=200)
        body = pw.TextField()
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "outbox_mail"

    @migrator.create_model
    class PlanPriceChange(pw.Model):
        id = pw.AutoField()
        plan = pw.ForeignKeyField(column_name='plan_id', field='id', model=migrator.orm['plan'], on_delete='CASCADE')
        old_price_ore = pw.IntegerField()
        new_price_ore = pw.IntegerField()
        changed_at = pw.DateTimeField()

        class Meta:
            table_name = "plan_price_change"

    @migrator.create_model
    class Review(pw.Model):
        id = pw.AutoField()
        company = pw.ForeignKeyField(column_name='company_id', field='id', model=migrator.orm['company'], on_delete='CASCADE')
        app = pw.ForeignKeyField(column_name='app_id', field='id', model=migrator.orm['app'], on_delete='CASCADE')
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['user'], null=True, on_delete='SET NULL')
        stars = pw.IntegerField()
        text = pw.TextField(default='')
        imported = pw.BooleanField(default=False)
        created_at = pw.DateTimeField(index=True)
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "review"
            indexes = [(('company', 'app'), True)]

    @migrator.create_model
    class ReviewReply(pw.Model):
        id = pw.AutoField()
        review = pw.ForeignKeyField(column_name='review_id', field='id', model=migrator.orm['review'], on_delete='CASCADE', unique=True)
        developer = pw.ForeignKeyField(column_name='developer_id', field='id', model=migrator.orm['developer'], on_delete='CASCADE')
        text = pw.TextField()
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "review_reply"

    @migrator.create_model
    class ReviewReport(pw.Model):
        id = pw.AutoField()
        review = pw.ForeignKeyField(column_name='review_id', field='id', model=migrator.orm['review'], on_delete='CASCADE')
        user = pw.ForeignKeyField(column_name='user_id', field='id', model=migrator.orm['user'], on_delete='CASCADE')
        reason = pw.TextField(default='')
        created_at = pw.DateTimeField()
        resolved_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "review_report"

    @migrator.create_model
    class StripeEvent(pw.Model):
        id = pw.AutoField()
        event_id = pw.CharField(max_length=100, unique=True)
        type = pw.CharField(index=True, max_length=80)
        account = pw.CharField(max_length=64, null=True)
        created = pw.IntegerField()
        received_at = pw.DateTimeField(index=True)
        payload = pw.TextField()

        class Meta:
            table_name = "stripe_event"


    # The store's search index: FTS5 on SQLite, tsvector with GIN on PostgreSQL, behind one
    # search function (store.search_app_ids). Both fold case for å, ä, ö.
    engine = database.obj if isinstance(database, pw.DatabaseProxy) else database
    is_pg = isinstance(engine, pw.PostgresqlDatabase)
    if is_pg:
        migrator.sql("CREATE TABLE app_search (app_id INTEGER PRIMARY KEY REFERENCES app(id) "
                     "ON DELETE CASCADE, document tsvector NOT NULL)")
        migrator.sql("CREATE INDEX app_search_document ON app_search USING GIN (document)")
    else:
        migrator.sql("CREATE VIRTUAL TABLE app_search USING fts5(name, tagline, description, "
                     "category, tokenize = 'unicode61 remove_diacritics 0')")

    # Made once, when the database is created: the prefix of every Stripe idempotency key, so
    # two databases talking to one Stripe account never share keys (DESIGN.md §5).
    insert = ("INSERT INTO market_setting (name, value) VALUES (%s, %s)" if is_pg
              else "INSERT INTO market_setting (name, value) VALUES (?, ?)")
    migrator.sql(insert, "installation_id", "inst_" + secrets.token_hex(8))
    migrator.sql(insert, "store_generation", "1")


def rollback(migrator: Migrator, database: pw.Database, *, fake=False):
    """Write your rollback migrations here."""
    migrator.sql("DROP TABLE IF EXISTS app_search")
    
    migrator.remove_model('stripe_event')

    migrator.remove_model('review_report')

    migrator.remove_model('review_reply')

    migrator.remove_model('review')

    migrator.remove_model('plan_price_change')

    migrator.remove_model('outbox_mail')

    migrator.remove_model('oauth_token')

    migrator.remove_model('market_setting')

    migrator.remove_model('login_failure')

    migrator.remove_model('ledger_entry')

    migrator.remove_model('subscription')

    migrator.remove_model('co_usage')

    migrator.remove_model('company_invoice')

    migrator.remove_model('company_customer')

    migrator.remove_model('checkout_attempt')

    migrator.remove_model('plan')

    migrator.remove_model('authorization_code')

    migrator.remove_model('connection')

    migrator.remove_model('oauth_client')

    migrator.remove_model('app_stats')

    migrator.remove_model('app_notification')

    migrator.remove_model('app')

    migrator.remove_model('category')

    migrator.remove_model('account_token')

    migrator.remove_model('user')

    migrator.remove_model('developer')

    migrator.remove_model('company')
