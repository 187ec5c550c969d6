"""Flask-Login's glue for the accounts room: the login manager and what a session holds.

The only module of the room that knows Flask; the rules (sessions, throttling) are in auth.py.
"""
from flask import request, session
from flask_babel import gettext
from flask_login import LoginManager, UserMixin, login_user, logout_user

from market.accounts import auth
from market.core import words

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = words.marked("Please log in to continue.")
# Flask-Login flashes it through this, in the reader's language.
login_manager.localize_callback = gettext
# Basic protection would write to the session of every visitor; the server-side login session
# (auth.start_session) does the job of ending stolen or old cookies instead.
login_manager.session_protection = None


class SessionUser(UserMixin):
    """What Flask-Login holds: the user row and its login session. The id Flask-Login keeps in
    the signed cookie is the session's random secret, never a row id (issue O, finding 1)."""

    def __init__(self, user, login_session, secret):
        self.user = user
        self.login_session = login_session
        self._secret = secret

    def get_id(self):
        return self._secret

    def __getattr__(self, name):
        return getattr(self.user, name)


@login_manager.user_loader
def load_user(secret):
    row = auth.session_for(secret)
    return SessionUser(row.user, row, secret) if row is not None else None


def start_session(user):
    """Log this browser in as `user` with a new server-side session; nothing the visitor's
    cookie held before (a planted value, an old login) carries over."""
    session.clear()
    row, secret = auth.start_session(user, device=request.headers.get("User-Agent", ""),
                                     address=request.remote_addr or "")
    login_user(SessionUser(user, row, secret))
    return row


def end_session():
    """Log out: this session's row goes, so a copy of the cookie opens nothing either."""
    auth.end_session_by_secret(session.get("_user_id"))
    logout_user()
    session.clear()
