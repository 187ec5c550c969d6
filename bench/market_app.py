"""The market as the benchmark serves it: `app.create_app()` unchanged, plus, only when
BENCH_COUNT_QUERIES=1 is in the environment, the number of SQL statements each request ran
in an `X-Bench-Queries` response header. It lives here, not in the market, so no production
server can ever turn it on. With BENCH_NO_API_HEALTH=1 the API's health counting is taken out
(its before/after-request hooks): the "before" of `bench/run.py --api-health`, which measures
what the counting costs side by side in one run.

With BENCH_COUNT_QUERIES=1 and BENCH_RECORD_DIR set, a request carrying `X-Bench-Record: <name>`
also has its SQL statements (with their parameters, and the transactions' BEGIN / COMMIT /
ROLLBACK in order), its status, headers and body written to `<BENCH_RECORD_DIR>/<name>`: what
`bench/floor.py` replays.

    gunicorn -c gunicorn.conf.py 'bench.market_app:create_app()'
"""
import os
import pickle
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


RECORD_HEADER = "HTTP_X_BENCH_RECORD"


def _count_queries(app):
    engine = db.obj
    execute_sql = engine.execute_sql
    record_dir = os.environ.get("BENCH_RECORD_DIR")

    def counting_execute_sql(sql, params=None, *args, **kwargs):
        _counts.n = getattr(_counts, "n", 0) + 1
        log = getattr(_counts, "log", None)
        if log is not None:
            log.append(("sql", sql, tuple(params or ())))
        return execute_sql(sql, params, *args, **kwargs)

    engine.execute_sql = counting_execute_sql
    if record_dir:
        for kind in ("begin", "commit", "rollback"):  # peewee runs these on a cursor of its own
            _record_transactions(engine, kind)
    inner = app.wsgi_app

    def counting_app(environ, start_response):
        # Outside the visitor cache's WSGI layer too, so a page answered there counts what it ran.
        _counts.n = 0
        name = environ.get(RECORD_HEADER) if record_dir else None
        if name:
            return _recorded(inner, environ, start_response, os.path.join(record_dir, os.path.basename(name)))

        def start(status, headers, exc_info=None):
            return start_response(status, [*headers, ("X-Bench-Queries", str(_counts.n))], exc_info)

        return inner(environ, start)

    app.wsgi_app = counting_app


def _record_transactions(engine, kind):
    original = getattr(engine, kind)

    def recording(*args, **kwargs):
        log = getattr(_counts, "log", None)
        if log is not None:
            log.append((kind, None, ()))
        return original(*args, **kwargs)

    setattr(engine, kind, recording)


def _recorded(inner, environ, start_response, path):
    """The request answered as usual, its statements and answer written to `path`."""
    _counts.log = []
    answer = {}

    def start(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, [*headers, ("X-Bench-Queries", str(_counts.n))]
        return lambda data: None

    try:
        result = inner(environ, start)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        # The header as it stands once the body is made (a streamed body may query while it is made).
        answer["headers"] = [(k, str(_counts.n) if k == "X-Bench-Queries" else v) for k, v in answer["headers"]]
        statements = _counts.log
    finally:
        _counts.log = None
    with open(path, "wb") as f:
        pickle.dump({"status": answer["status"], "headers": answer["headers"], "body": body,
                     "statements": statements, "queries": _counts.n}, f)
    start_response(answer["status"], answer["headers"])
    return [body]
