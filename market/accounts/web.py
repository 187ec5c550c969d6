"""Flask-Login's glue for the accounts room: the login manager and what a session holds.

The only module of the room that knows Flask; the rules (epochs, throttling) are in auth.py.
"""
from flask_login import LoginManager, UserMixin

from market.accounts import auth

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to continue."
# Basic protection would write to the session of every visitor; the session epoch does the
# job of invalidating stolen or old cookies instead (DESIGN.md §4).
login_manager.session_protection = None


class SessionUser(UserMixin):
    """What Flask-Login holds: the user row, with the epoch in its id so that bumping
    `User.session_epoch` invalidates every cookie issued before."""

    def __init__(self, user):
        self.user = user

    def get_id(self):
        return f"{self.user.id}:{self.user.session_epoch}"

    def __getattr__(self, name):
        return getattr(self.user, name)


@login_manager.user_loader
def load_user(session_user_id):
    try:
        user_id, epoch = (int(part) for part in session_user_id.split(":"))
    except (ValueError, AttributeError):
        return None
    user = auth.session_user(user_id, epoch)
    return SessionUser(user) if user is not None else None
