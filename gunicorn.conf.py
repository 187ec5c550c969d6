"""gunicorn settings for production: `gunicorn 'app:create_app()'` from the project root.

gunicorn reads this file by default, so the market runs as production unless told otherwise.
"""
import multiprocessing
import os

from gunicorn.glogging import Logger

from market.core.log_redaction import redact

os.environ.setdefault("MARKET_ENV", "production")

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
worker_class = "gthread"
preload_app = True
timeout = 30
keepalive = 5
accesslog = "-"


class RedactingLogger(Logger):
    """The access log without secrets from URLs (issue O): reset, invitation and confirmation
    tokens in paths, OAuth codes and states in query strings."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {name: redact(value) if isinstance(value, str) else value for name, value in atoms.items()}


logger_class = RedactingLogger


def pre_fork(server, worker):
    # The app was loaded once in the master (preload_app); its pooled connections must not be
    # shared with the children, which open their own.
    from app import close_pool

    close_pool()


def worker_exit(server, worker):
    # A stopping worker adds its API health counts to the database (market/api/health.py).
    from market.api import health

    health.flush_all()
