"""What the oauth room does when the catalog changes an app (connected in market.wiring):
an approved revision that removes a scope narrows every grant to the app, and every token of
it, at once. Inside the catalog's transaction; only rows are written."""
from models import Connection, OAuthClient, OAuthToken


def _narrowed(text, kept):
    return " ".join(name for name in text.split() if name in kept)


def narrow_grants(app, scopes, now):
    """catalog.scopes_narrowed: each connection and token of the app keeps only `scopes`."""
    kept = set(scopes)
    for connection in Connection.select().where(Connection.app == app):
        narrowed = _narrowed(connection.scopes, kept)
        if narrowed != connection.scopes:
            Connection.update(scopes=narrowed).where(Connection.id == connection.id).execute()
    client_ids = OAuthClient.select(OAuthClient.id).where(OAuthClient.app == app)
    for token in OAuthToken.select().where(OAuthToken.client.in_(client_ids), OAuthToken.revoked_at.is_null()):
        narrowed = _narrowed(token.scope, kept)
        if narrowed != token.scope:
            OAuthToken.update(scope=narrowed).where(OAuthToken.id == token.id).execute()
