"""The market as the benchmark serves it: `app.create_app()` unchanged, plus, only when
BENCH_COUNT_QUERIES=1 is in the environment, the number of SQL statements each request ran
in an `X-Bench-Queries` response header. It lives here, not in the market, so no production
server can ever turn it on. With BENCH_NO_API_HEALTH=1 the API's health counting is taken out
(its before/after-request hooks): the "before" of `bench/run.py --api-health`, which measures
what the counting costs side by side in one run.

    gunicorn -c gunicorn.conf.py 'bench.market_app:create_app()'
"""
import os
import threading

from app import create_app as create_market
from models import db

_counts = threading.local()


def create_app():
    app = create_market()
    if os.environ.get("BENCH_COUNT_QUERIES") == "1":
        _count_queries(app)
    if os.environ.get("BENCH_NO_API_HEALTH") == "1":
        _without_api_health(app)
    return app


def _without_api_health(app):
    from views import api

    app.before_request_funcs["api"].remove(api._start_clock)
    app.after_request_funcs["api"].remove(api._count_call)


def _count_queries(app):
    engine = db.obj
    execute_sql = engine.execute_sql

    def counting_execute_sql(sql, params=None, *args, **kwargs):
        _counts.n = getattr(_counts, "n", 0) + 1
        return execute_sql(sql, params, *args, **kwargs)

    engine.execute_sql = counting_execute_sql
    inner = app.wsgi_app

    def counting_app(environ, start_response):
        # Outside the visitor cache's WSGI layer too, so a page answered there counts what it ran.
        _counts.n = 0

        def start(status, headers, exc_info=None):
            return start_response(status, [*headers, ("X-Bench-Queries", str(_counts.n))], exc_info)

        return inner(environ, start)

    app.wsgi_app = counting_app
