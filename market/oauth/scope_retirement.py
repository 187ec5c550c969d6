"""Scopes the API never served leave the catalogue (issue S 3): an app's OAuth client and its
connections keep only the scopes of market.core.scopes, and the app's developers are told by
mail what was removed. Idempotent: run after every `flask migrate`; only clients that still
hold a scope outside the catalogue are changed (and mailed)."""
from market.accounts.auth import language_of
from market.core import words
from market.core.scopes import SCOPES, served
from market.outbound import mail
from models import Connection, OAuthClient, User, db

SUBJECT = words.marked("API scopes removed from %(app)s")
# One message, written in each developer's language (scope names are the API's, not translated).
BODY = words.marked("""Hello,

The App Market platform API serves only these scopes: %(catalogue)s.
Your app %(app)s asked for scopes the API has never served, and they have been removed from its
OAuth client: %(removed)s.

The app now asks for: %(kept)s. Companies that connected it keep access to those scopes only.
Nothing else changes; no action is needed unless your app's code asks for a removed scope, in
which case the authorization request is refused until it no longer does.

App Market
""")


def _unserved(scopes):
    return [name for name in scopes.split() if name not in SCOPES]


def retire_unserved_scopes(config):
    """Remove every scope outside the catalogue from OAuth clients and connections; mail the
    developers of each app changed. Returns the slugs of the apps changed."""
    changed = []
    for client in OAuthClient.select().order_by(OAuthClient.id):
        removed = _unserved(client.scopes)
        if not removed:
            continue
        kept = served(client.scopes.split())
        with db.atomic():
            OAuthClient.update(scopes=" ".join(kept)).where(OAuthClient.id == client.id).execute()
            for connection in Connection.select().where(Connection.app == client.app_id):
                if _unserved(connection.scopes):
                    Connection.update(scopes=" ".join(served(connection.scopes.split()))).where(
                        Connection.id == connection.id).execute()
        app = client.app
        changed.append(app.slug)
        _tell_developers(config, app, removed, kept)
    return changed


def _tell_developers(config, app, removed, kept):
    for user in User.select().where(User.developer == app.developer_id).order_by(User.id):
        locale = language_of(user)
        body = words.say(locale, BODY, catalogue=", ".join(SCOPES), app=app.name, removed=", ".join(removed),
                         kept=", ".join(kept) or words.say(locale, "no scopes"))
        try:
            mail.send_mail(config, user.email, words.say(locale, SUBJECT, app=app.name), body)
        except mail.MailNotSent:
            continue  # logged in mail.py; the other developers may still be reachable
        except mail.MailNotConfigured:
            break
