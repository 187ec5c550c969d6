"""bench/floor.py (issue R): the floor replays a recorded request's statements and answers with
its recorded bytes; and bench/run.py's checks that judge the runs (bodies, scales)."""
import pickle
import sqlite3

from bench import floor
from bench import run as bench_run


def _recording(tmp_path, statements, body=b"<p>recorded</p>"):
    path = tmp_path / "scenario.pickle"
    with open(path, "wb") as f:
        pickle.dump({"status": "200 OK", "headers": [("Content-Type", "text/html"), ("X-Bench-Queries", "2")],
                     "body": body, "statements": statements, "queries": 2}, f)
    return str(path)


def _call(app, body=b""):
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, headers

    import io

    environ = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)}
    return answer, b"".join(app(environ, start_response))


def test_floor_runs_the_statements_and_answers_the_recorded_bytes(tmp_path, monkeypatch):
    database_file = tmp_path / "floor.db"
    with sqlite3.connect(database_file) as connection:
        connection.execute('CREATE TABLE "oauth_token" (id INTEGER PRIMARY KEY, token TEXT UNIQUE, n INTEGER)')
        connection.execute('INSERT INTO "oauth_token" (token, n) VALUES (?, ?)', ("a" * 64, 1))
    token = "0123456789abcdef" * 4
    path = _recording(tmp_path, [
        ("sql", 'SELECT id FROM "oauth_token" WHERE n = ?', (1,)),
        ("begin", None, ()),
        ("sql", 'INSERT INTO "oauth_token" ("token", "n") VALUES (?, ?)', (token, 2)),
        ("commit", None, ()),
    ])
    url = f"sqlite:///{database_file}"
    monkeypatch.setenv("BENCH_FLOOR_RECORDING", path)
    monkeypatch.setenv("DATABASE_URL", url)
    marks = floor.table_marks(url, path)
    assert marks == {"oauth_token": 1}
    app = floor.create_app()
    for _ in range(3):
        answer, body = _call(app, b"grant_type=refresh_token")
        assert answer["status"] == "200 OK" and body == b"<p>recorded</p>"
        assert ("X-Bench-Queries", "2") in answer["headers"]
    with sqlite3.connect(database_file) as connection:
        tokens = [t for (t,) in connection.execute('SELECT token FROM "oauth_token" WHERE n = 2')]
    # Each request wrote its own row: the unique-looking value is fresh each time, of the same shape.
    assert len(set(tokens)) == 3 and all(len(t) == 64 and t != token for t in tokens)
    floor.clean_up(url, path, marks)
    with sqlite3.connect(database_file) as connection:
        assert connection.execute('SELECT COUNT(*) FROM "oauth_token"').fetchone()[0] == 1
    assert floor.summary(path) == {"statements": 2, "body_bytes": len(b"<p>recorded</p>")}


def test_only_an_inserts_unique_looking_values_are_made_fresh():
    steps = floor._plan([
        ("sql", 'SELECT * FROM "oauth_token" WHERE refresh_token_hash = ?', ("f" * 64,)),
        ("sql", 'INSERT INTO "stripe_event" ("event_id", "type", "payload") VALUES (?, ?, ?)',
         ("evt_bench_1234_5678", "account.updated", '{"id": "x y"}')),
    ])
    assert steps[0][3] == () and steps[1][3] == (0,)


def test_body_digest_blanks_csrf_tokens_only():
    page = '<form><input type="hidden" name="csrf_token" value="{}"><p>{}</p></form>'
    assert bench_run.body_digest(page.format("one.token", "same")) == bench_run.body_digest(page.format("two", "same"))
    assert bench_run.body_digest(page.format("one", "same")) != bench_run.body_digest(page.format("one", "other"))
    reversed_order = '<input value="tok-1" type="hidden" name="csrf_token"><p>x</p>'
    assert bench_run.body_digest(reversed_order) == bench_run.body_digest(reversed_order.replace("tok-1", "tok-2"))


def test_a_visitor_pages_plain_request_carries_a_cookie_that_is_no_session():
    method, path, headers, body = bench_run.plain_line("home-visitor", bench_run.line("GET", "/")).split("\t")
    assert headers == "Cookie: market_session=bench-plain"
    customer = bench_run.line("GET", "/", {"Cookie": "market_session=abc"})
    assert bench_run.plain_line("home-customer", customer) == customer


def test_scale_summary_flags_cpu_spread_and_sql_counts():
    def report(scale, cpu, queries):
        return {"scale": scale, "scenarios": [{"name": "api", "cpu_ms": cpu, "hello_cpu_ms": 0.5, "cpu_ratio": 0.5 / cpu,
                                               "queries": queries}]}

    _, flags = bench_run.scale_summary([report(1, 1.0, 1), report(10, 1.1, 1)])
    assert flags["api"]["problems"] == []
    _, flags = bench_run.scale_summary([report(1, 1.0, 1), report(10, 1.2, 2)])
    assert flags["api"]["problems"] == ["CPU ms spread 20%", "SQL count differs"]
