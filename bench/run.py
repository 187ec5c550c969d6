"""The market's benchmark (QUALITY.md 34): throughput as a ratio to a bare Flask "hello".

    .venv/bin/python bench/run.py --database sqlite --scale 100 --duration 10
    .venv/bin/python bench/run.py --database postgresql --reuse --baseline

Seeds a fresh database (`bench/seed_bulk.py`: at --scale 100, 10,000 apps, 100,000 companies,
1,000,000 subscriptions, 300,000 reviews), starts the market and a bare Flask app under gunicorn
with the same settings (gunicorn.conf.py, 2 workers), and drives each scenario from wrk, a
separate process on loopback. Prints requests per second as a ratio to hello, p50 and p99
latency, SQL statements per request (the X-Bench-Queries header of bench/market_app.py) and the
peak RSS of a market worker; writes bench/results.json (and bench/baseline-<database>.json with
--baseline). With --floor, each scenario's floor (bench/floor.py: its SQL statements and answer
from a bare WSGI callable under the same gunicorn) runs beside it (floor_cpu_ratio); with
--scales 1,10,100 the whole run is made at each scale and CPU ms and SQL statements per request
compared. After each scenario its effect (POST) or body (GET) is checked (bench/README.md).
"""
import argparse
import base64
import datetime
import fcntl
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

import requests
import stripe

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
sys.path.insert(0, ROOT)

SECRET_KEY = "bench-secret-key"
WEBHOOK_SECRET = "whsec_bench"
CONNECT_WEBHOOK_SECRET = "whsec_bench_connect"  # the Connect endpoint's own (issue O)
DEMO_CLIENT_SECRET = "demo-secret"
CUSTOMER = "customer@demo.test"
DEVELOPER = "developer@demo.test"  # dashboard-developer: its app has 10,000 subscriptions (seed_bulk)
PASSWORD = "demo-pass-123"
BENCH_ACCOUNT = "acct_bench_webhooks"
API_TOKENS = 3000
ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL",
                           os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"))
SCENARIOS = ("home-visitor", "search-visitor", "app-visitor", "home-customer", "search-customer",
             "app-customer", "myapps-customer", "recommended-customer", "webhook", "token", "refresh", "api",
             "dashboard-developer")
# The targets of issue R, judged on cpu_ratio (hello's CPU ms per request / the scenario's).
TARGETS = {"home-visitor": 1.0, "search-visitor": 1.0, "app-visitor": 1.0, "home-customer": 0.35,
           "search-customer": 0.35, "app-customer": 0.35, "myapps-customer": 0.3, "recommended-customer": 0.5,
           "webhook": 0.35, "token": 0.35, "refresh": 0.35, "api": 0.6, "dashboard-developer": 0.15}
POSTS = ("webhook", "token", "refresh")  # one-time requests, each sent once; their effect checked after
RSS_LIMIT_MB = 150
P99_LIMIT_MS = 50  # in the 4-connection run
P99_EXEMPT = ("dashboard-developer",)  # issue R: the dashboard has no p99 rule
SCALE_CPU_SPREAD = 0.15  # issue R: CPU ms per request within 15 % at --scale 1, 10 and 100
SEARCH = "/apps?q=l%C3%B6n"  # "lön": payroll apps, a common Swedish query with many hits
APP_SLUG = "lonekollen"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- the database
def hold_database(kind, scale):
    """An exclusive lock on the bench database of this kind and scale for the whole run: two runs
    on one database clobber each other (a fresh seed deletes the file, prepare() deletes the
    `bench-` token families the other run's scenarios are using). A second run waits."""
    os.makedirs(os.path.join(ROOT, "instance"), exist_ok=True)
    held = open(os.path.join(ROOT, "instance", f"bench-{kind}-{scale}.lock"), "w")
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log(f"another bench run uses the {kind} database of scale {scale}: waiting for it ...")
        fcntl.flock(held, fcntl.LOCK_EX)
    return held


def database_url(kind, scale, reuse):
    if kind == "sqlite":
        path = os.path.join(ROOT, "instance", f"bench-sqlite-{scale}.db")
        if not reuse:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return "sqlite:///" + path, not (reuse and os.path.exists(path))
    import psycopg

    name = f"market_bench_{scale}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not (reuse and exists):
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name, not (reuse and exists)


def seed(url, scale):
    started = time.monotonic()
    subprocess.run([sys.executable, os.path.join(BENCH_DIR, "seed_bulk.py"), url, "--scale", str(scale),
                    "--secret-key", SECRET_KEY], check=True, stdout=sys.stderr)
    return round(time.monotonic() - started)


def prepare(url):
    """What the scenarios need beyond the seed: a Connect account for account.updated events,
    the demo company connected to the sample integration, and API tokens on many grants (the
    rate limit is per client and company, 25 per 5 s)."""
    from bench import seed_bulk
    from market.core import credentials
    from market.data import database
    from market.recommendations import ranking as recommendations
    from models import App, Connection, Developer, OAuthClient, OAuthToken, SegmentUsage, User, db, utcnow

    db.initialize(database.open_database(url))
    with db.connection_context():
        database.migrate(db)  # a --reuse'd database seeded before a newer migration
        if not SegmentUsage.select().exists():
            recommendations.rebuild_segment_usage()
        # myapps-customer's 10 live subscriptions with invoices, on a database seeded before them.
        seed_bulk.customer_subscriptions(echo=log)
        # dashboard-developer's app with 10,000 subscriptions, likewise.
        if seed_bulk.developer_subscriptions(echo=log):
            from market.catalog import store
            from market.stats import app_stats

            app_stats.stats_rebuild(grace_days=7)
            store.bump_store_generation()
    with db.connection_context(), db.atomic():
        if not Developer.select().where(Developer.stripe_account_id == BENCH_ACCOUNT).exists():
            first = Developer.select().order_by(Developer.id.desc()).first()
            Developer.update(stripe_account_id=BENCH_ACCOUNT).where(Developer.id == first.id).execute()
        customer = User.get(User.email == CUSTOMER)
        sample = App.get(App.slug == "sample-integration")
        connection = Connection.get_or_none(Connection.company == customer.company_id, Connection.app == sample)
        if connection is None:
            connection = Connection.create(company=customer.company_id, app=sample, consented_by=customer,
                                           scopes="companyinformation customer invoice")
        OAuthToken.delete().where(OAuthToken.family.startswith("bench-")).execute()
        grants = (Connection.select(Connection.id, Connection.app, Connection.scopes, OAuthClient.id.alias("client"))
                  .join(App).switch(Connection).join(OAuthClient, on=(OAuthClient.app == Connection.app))
                  .where(App.is_free == True, App.status == "published",  # noqa: E712
                         Connection.revoked_at.is_null())
                  .order_by(Connection.id).limit(API_TOKENS).dicts())
        now = utcnow()
        tokens, rows = [], []
        for grant in grants:
            plain = credentials.new_token()
            tokens.append(plain)
            rows.append({"client": grant["client"], "connection": grant["id"], "family": "bench-" + plain[:20],
                         "access_token_hash": credentials.token_hash(plain), "scope": grant["scopes"],
                         "issued_at": now, "access_expires_at": now + datetime.timedelta(days=1)})
        for start in range(0, len(rows), 1000):
            OAuthToken.insert_many(rows[start:start + 1000]).execute()
        # Grants in steady use: the market records a use at most once an hour, so a busy grant
        # reads without writing; a first call of 3,000 grants at once would measure writes.
        Connection.update(last_used_at=now).where(Connection.id.in_([r["connection"] for r in rows])).execute()
        client = OAuthClient.get(OAuthClient.client_id == "sample-integration")
    return {"api_tokens": tokens, "client_id": client.client_id, "connection_id": connection.id,
            "user_id": customer.id, "client_row": client.id, "redirect_uri": client.redirect_uris.split()[0]}


def make_codes(count, ctx, now=None):
    """`count` fresh authorization codes for the token exchange (each can be redeemed once), all
    created at `now`, which tells this batch's codes apart afterwards (token_effect)."""
    from market.core import credentials
    from models import AuthorizationCode, db, utcnow

    now = now or utcnow()
    codes, rows = [], []
    for _ in range(count):
        code = credentials.new_token()
        codes.append(code)
        rows.append({"code_hash": credentials.token_hash(code), "client": ctx["client_row"],
                     "connection": ctx["connection_id"], "user": ctx["user_id"], "redirect_uri": ctx["redirect_uri"],
                     "scope": "companyinformation customer", "offline": True, "created_at": now,
                     "expires_at": now + datetime.timedelta(minutes=9)})
    with db.connection_context(), db.atomic():
        for start in range(0, len(rows), 1000):
            AuthorizationCode.insert_many(rows[start:start + 1000]).execute()
    return codes


def make_refresh_tokens(count, ctx, run_id):
    """`count` live refresh tokens of the customer's connection to the sample integration, each
    the first of its own family `bench-rf-<run_id>-<n>` (each can be exchanged once: rotation).
    prepare() deletes the `bench-` families of earlier runs."""
    from market.core import credentials
    from models import OAuthToken, db, utcnow

    now = utcnow()
    plain, rows = [], []
    for n in range(count):
        refresh = credentials.new_token()
        plain.append(refresh)
        rows.append({"client": ctx["client_row"], "connection": ctx["connection_id"],
                     "family": f"bench-rf-{run_id}-{n}", "access_token_hash": credentials.token_hash(
                         credentials.new_token()), "refresh_token_hash": credentials.token_hash(refresh),
                     "scope": "companyinformation customer", "issued_at": now,
                     "access_expires_at": now + datetime.timedelta(hours=1),
                     "refresh_expires_at": now + datetime.timedelta(days=30)})
    with db.connection_context(), db.atomic():
        for start in range(0, len(rows), 1000):
            OAuthToken.insert_many(rows[start:start + 1000]).execute()
    return plain


# ---------------------------------------------------------------------------- effects of POSTs
def token_effect(batch_created_at, answered, in_flight):
    """One token row per redeemed code of this batch, and as many redeemed codes as answers (up
    to the requests in flight when wrk stopped, which the server answered but wrk did not count)."""
    from peewee import fn

    from models import AuthorizationCode, OAuthToken, db

    with db.connection_context():
        codes = AuthorizationCode.select(AuthorizationCode.id).where(AuthorizationCode.created_at == batch_created_at)
        used = codes.where(AuthorizationCode.used_at.is_null(False)).count()
        per_code = (OAuthToken.select(OAuthToken.code, fn.COUNT(OAuthToken.id).alias("n"))
                    .where(OAuthToken.code.in_(codes)).group_by(OAuthToken.code).tuples())
        counts = [n for _, n in per_code]
    ok = used == len(counts) and all(n == 1 for n in counts) and answered <= used <= answered + in_flight
    return {"ok": ok, "answered": answered, "codes_used": used, "codes_with_token": len(counts),
            "most_tokens_per_code": max(counts, default=0)}


def refresh_effect(run_id, answered, in_flight):
    """Each refresh token of this run exchanged exactly once: a rotated parent per answer, one
    child per rotated parent, no family of more than the two."""
    from models import OAuthToken, db

    with db.connection_context():
        rows = (OAuthToken.select(OAuthToken.family, OAuthToken.rotated_at)
                .where(OAuthToken.family.startswith(f"bench-rf-{run_id}-")).tuples())
        sizes, rotated = {}, 0
        for family, rotated_at in rows:
            sizes[family] = sizes.get(family, 0) + 1
            rotated += rotated_at is not None
    children = sum(size - 1 for size in sizes.values())
    sizes = list(sizes.values())
    ok = rotated == children and max(sizes, default=1) <= 2 and answered <= rotated <= answered + in_flight
    return {"ok": ok, "answered": answered, "rotated": rotated, "children": children,
            "largest_family": max(sizes, default=0)}


def webhook_effect(run_id, answered, in_flight):
    """One event row per webhook event of this run (the event id is unique in the table)."""
    from models import StripeEvent, db

    with db.connection_context():
        rows = StripeEvent.select().where(StripeEvent.event_id.startswith(f"evt_bench_{run_id}_")).count()
    return {"ok": answered <= rows <= answered + in_flight, "answered": answered, "event_rows": rows}


# ---------------------------------------------------------------------------- the bodies of GETs
CSRF_VALUES = (re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"'), re.compile(r'value="([^"]+)"[^>]*?name="csrf_token"'))


def body_digest(body):
    """SHA-256 of a page with its csrf_token values blanked (issue R's rule for GET scenarios)."""
    text = body.decode("utf-8", errors="surrogateescape") if isinstance(body, bytes) else body
    for token in {t for pattern in CSRF_VALUES for t in pattern.findall(text)}:
        text = text.replace(token, "")
    return hashlib.sha256(text.encode("utf-8", errors="surrogateescape")).hexdigest()


def plain_line(name, request_line):
    """The plain request a GET scenario's answer is compared with. A visitor page with a
    `market_session` cookie that is no session: not a visitor to the cache's WSGI layer (issue R),
    so Flask renders it for an anonymous reader; a logged-in page as it is (its plain answer is
    the first one, taken before the warm-up)."""
    if not name.endswith("-visitor"):
        return request_line
    method, path, header_text, body = request_line.split("\t")
    return line(method, path, {"Cookie": "market_session=bench-plain"}, body)


# ---------------------------------------------------------------------------- the servers
class Server:
    def __init__(self, name, target, env, workers):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.errors = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)
        gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MARKET_", "STRIPE_"))}
        full_env.update(env, WEB_CONCURRENCY=str(workers))
        # Access log to /dev/null rather than off: both apps pay for it as production does.
        self.process = subprocess.Popen([gunicorn, "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{self.port}",
                                         target], cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL,
                                        stderr=self.errors)
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} did not start: see {self.errors.name}")
            try:
                requests.get(self.url + "/", timeout=5)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not answer within 60 s") from None
                time.sleep(0.2)

    def worker_pids(self):
        try:
            with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def peak_rss_mb(self):
        """The largest peak resident set (VmHWM) of the workers."""
        peaks = []
        for pid in self.worker_pids():
            try:
                with open(f"/proc/{pid}/status") as f:
                    match = re.search(r"VmHWM:\s+(\d+) kB", f.read())
                peaks.append(int(match.group(1)) / 1024)
            except OSError:
                pass
        return round(max(peaks), 1) if peaks else None

    def cpu_seconds(self):
        """User + system CPU time the workers have spent so far (from /proc)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.worker_pids():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            except OSError:
                pass
        return total / ticks

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.errors.close()


def database_cpu_seconds(url):
    """CPU time spent so far by the PostgreSQL backends serving this database (by their process
    titles), so each scenario's database cost per request can be told from the app servers'."""
    if not url.startswith("postgres"):
        return None
    name = url.rsplit("/", 1)[1]
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().decode(errors="replace")
            if not title.startswith("postgres:") or f" {name} " not in title:
                continue
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            continue
    return total / ticks


# ---------------------------------------------------------------------------- requests
def line(method, path, headers=None, body=""):
    header_text = "|".join(f"{k}: {v}" for k, v in (headers or {}).items())
    for part in (path, header_text, body):
        assert "\t" not in part and "\n" not in part
    return f"{method}\t{path}\t{header_text}\t{body}"


def login(market, email=CUSTOMER):
    """A session cookie of `email` (the customer, or the developer), got through the login form
    (production cookies are Secure; loopback is plain http, so the cookie is carried by hand)."""
    page = requests.get(market.url + "/login", timeout=10)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    response = requests.post(market.url + "/login", data={"email": email, "password": PASSWORD,
                                                          "csrf_token": token},
                             cookies={"market_session": page.cookies["market_session"]},
                             allow_redirects=False, timeout=30)
    assert response.status_code == 303, response.text[:500]
    return "market_session=" + response.cookies["market_session"]


def webhook_lines(count, run_id):
    lines = []
    now = int(time.time())
    for n in range(count):
        event = {"id": f"evt_bench_{run_id}_{n}", "object": "event", "type": "account.updated", "created": now,
                 "account": BENCH_ACCOUNT, "livemode": False, "api_version": "2026-10-28.endive",
                 "data": {"object": {"id": BENCH_ACCOUNT, "object": "account", "details_submitted": True,
                                     "capabilities": {"transfers": "active", "card_payments": "active"}}}}
        payload = json.dumps(event, separators=(",", ":"))
        # A connected account's event: on the Connect endpoint, signed with its secret.
        signature = stripe.WebhookSignature.generate_signature_header(payload, CONNECT_WEBHOOK_SECRET)
        lines.append(line("POST", "/stripe/webhook?connect=1", {"Content-Type": "application/json",
                                                        "Stripe-Signature": signature}, payload))
    return lines


def token_lines(codes, ctx):
    basic = base64.b64encode(f"{ctx['client_id']}:{DEMO_CLIENT_SECRET}".encode()).decode()
    return [line("POST", "/oauth-v1/token", {"Content-Type": "application/x-www-form-urlencoded",
                                             "Authorization": "Basic " + basic},
                 urllib.parse.urlencode({"grant_type": "authorization_code", "code": code,
                                         "redirect_uri": ctx["redirect_uri"]})) for code in codes]


def refresh_lines(refresh_tokens, ctx):
    basic = base64.b64encode(f"{ctx['client_id']}:{DEMO_CLIENT_SECRET}".encode()).decode()
    return [line("POST", "/oauth-v1/token", {"Content-Type": "application/x-www-form-urlencoded",
                                             "Authorization": "Basic " + basic},
                 urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": token}))
            for token in refresh_tokens]


def send(base_url, request_line, extra_headers=None):
    """One request as wrk would send it (no Accept-Encoding, as wrk sends none)."""
    method, path, header_text, body = request_line.split("\t")
    headers = dict(h.split(": ", 1) for h in header_text.split("|")) if header_text else {}
    headers.update(extra_headers or {})
    headers.setdefault("Accept-Encoding", "identity")
    return requests.request(method, base_url + path, headers=headers, data=body.encode() or None,
                            allow_redirects=False, timeout=30)


def probe(base_url, request_line, expect, answers=None):
    """One request as wrk would send it: its status and the SQL statements it ran (and its
    answer appended to `answers`, when given)."""
    response = send(base_url, request_line)
    path = request_line.split("\t")[1]
    if response.status_code != 200 or (expect and expect not in response.text):
        raise RuntimeError(f"{path}: {response.status_code}, expected 200 with {expect!r}: {response.text[:300]}")
    if answers is not None:
        answers.append(response)
    return int(response.headers.get("X-Bench-Queries", -1))


def wrk(base_url, lines, duration, connections, threads=1):
    with tempfile.NamedTemporaryFile("w", suffix=".requests", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    env = dict(os.environ, BENCH_REQUESTS=f.name, BENCH_THREADS=str(threads))
    try:
        out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
                              "--timeout", "10s", "-s", os.path.join(BENCH_DIR, "wrk.lua"), base_url],
                             env=env, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    result = json.loads(out.strip().splitlines()[-1])
    seconds = result["duration_us"] / 1e6
    errors = sum(v for k, v in result.items() if k.startswith("errors_"))
    return {"rps": round(result["requests"] / seconds, 1), "p50_ms": round(result["p50_us"] / 1000, 2),
            "p99_ms": round(result["p99_us"] / 1000, 2), "requests": result["requests"], "errors": errors,
            "sent": max(result.get("sent", 0), result["requests"])}


def idle_cpu_seconds(server, quiet=0.3, limit=30):
    """The workers' CPU seconds once they are idle again: requests in flight when wrk stopped
    are still served, and their CPU belongs to the run (divided by the requests sent). A slow
    scenario (the dashboard: 16 requests in flight at a few hundred ms each) would otherwise be
    measured with that work half counted and its requests not at all."""
    deadline = time.monotonic() + limit
    last = server.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = server.cpu_seconds()
        if now == last:
            return now
        last = now
    return last


def hello_wrk(hello, args):
    before = idle_cpu_seconds(hello)
    result = wrk(hello.url, [line("GET", "/")], args.hello_duration, args.connections)
    result["cpu_ms"] = round((idle_cpu_seconds(hello) - before) * 1000 / max(result["sent"], 1), 3)
    return result


# ---------------------------------------------------------------------------- the run
def market_env(url, args):
    env = {"MARKET_ENV": "production", "SECRET_KEY": SECRET_KEY, "STRIPE_SECRET_KEY": "sk_test_bench",
           "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STRIPE_CONNECT_WEBHOOK_SECRET": CONNECT_WEBHOOK_SECRET,
           "MARKET_URL": "https://market.bench", "PLATFORM_ORG_NUMBER": "559999-0017",
           "PLATFORM_VAT_NUMBER": "SE559999001701",
           # Nothing benchmarked talks to Stripe; were something to, it fails fast and shows.
           "STRIPE_API_BASE": "http://127.0.0.1:9", "DATABASE_URL": url, "BENCH_COUNT_QUERIES": "1",
           "MAIL_DISABLED": "1"}
    if args.redis:
        env["RATELIMIT_STORAGE_URI"] = args.redis
    return env


def measure(server, url, lines, duration, connections):
    """A wrk run of `lines` and the CPU ms per request its workers (and, on PostgreSQL, the
    database's backends) spent."""
    app_cpu = idle_cpu_seconds(server)
    db_cpu = database_cpu_seconds(url)
    measured = wrk(server.url, lines, duration, connections)
    measured["cpu_ms"] = round((idle_cpu_seconds(server) - app_cpu) * 1000 / max(measured["sent"], 1), 3)
    if db_cpu is not None:
        spent = database_cpu_seconds(url) - db_cpu
        measured["db_cpu_ms"] = round(spent * 1000 / max(measured["sent"], 1), 3)
        measured["cpu_ms"] = round(measured["cpu_ms"] + measured["db_cpu_ms"], 3)
    return measured


def floor_run(name, market, url, record_lines, queries, lines, args, record_dir):
    """bench/floor.py for one scenario: the market's SQL statements and answer of one of
    `record_lines` recorded (the first that ran the scenario's usual number of statements, the
    median of the probes: not one that also read the store generation, say), then served by a
    bare WSGI callable under the same gunicorn (same settings, same workers) with the same
    driver on the same database, driven by the same wrk lines."""
    from bench import floor

    chosen = None
    for n, record_line in enumerate(record_lines):
        path = os.path.join(record_dir, f"{name}-{n}.pickle")
        recorded = send(market.url, record_line, {floor.RECORD_HEADER: os.path.basename(path)})
        if recorded.status_code != 200 or not os.path.exists(path):
            raise RuntimeError(f"{name}: recording for the floor failed ({recorded.status_code})")
        if chosen is None or floor.load(path)["queries"] == queries:
            chosen = path
        if floor.load(path)["queries"] == queries:
            break
    path = chosen
    marks = floor.table_marks(url, path)
    server = Server(f"floor-{name}", "bench.floor:create_app()",
                    {"DATABASE_URL": url, "BENCH_FLOOR_RECORDING": path}, args.workers)
    try:
        wrk(server.url, lines, 1, args.connections)  # warm-up, as the market's
        measured = measure(server, url, lines, args.duration, args.connections)
        measured["rss_mb"] = server.peak_rss_mb()
    finally:
        server.stop()
        floor.clean_up(url, path, marks)  # the rows its INSERTs added (fresh unique values)
    summary = floor.summary(path)
    measured.update(statements=summary["statements"], body_bytes=summary["body_bytes"])
    return measured


def run(args):
    held = hold_database(args.database, args.scale)
    try:
        return _run(args)
    finally:
        held.close()


def _run(args):
    from market.data import database
    from models import db

    url, fresh = database_url(args.database, args.scale, args.reuse)
    seconds = None
    if fresh:
        log(f"seeding {url} at scale {args.scale} ...")
        seconds = seed(url, args.scale)
        log(f"seeded in {seconds} s")
    ctx = prepare(url)
    record_dir = tempfile.mkdtemp(prefix="bench-floor-")
    env = dict(market_env(url, args), BENCH_RECORD_DIR=record_dir)
    hello = Server("hello", "bench.hello:create_app()", {"MARKET_ENV": "production"}, args.workers)
    market = Server("market", "bench.market_app:create_app()", env, args.workers)
    db.initialize(database.open_database(url))
    try:
        cookie = login(market)
        customer = {"Cookie": cookie}
        fragment = {"Cookie": cookie, "HX-Request": "true"}
        developer = {"Cookie": login(market, DEVELOPER)} if "dashboard-developer" in args.scenarios else {}
        pages = {
            "home-visitor": ([line("GET", "/")], "App Market"),
            "search-visitor": ([line("GET", SEARCH)], "Lönekollen"),
            "app-visitor": ([line("GET", f"/apps/{APP_SLUG}")], "Lönekollen"),
            # Logged in: the account menu's Log out form, in whichever language the page is.
            "home-customer": ([line("GET", "/", customer)], 'action="/logout"'),
            "search-customer": ([line("GET", SEARCH, customer)], 'action="/logout"'),
            "app-customer": ([line("GET", f"/apps/{APP_SLUG}", customer)], 'action="/logout"'),
            # My apps of a company with 10 live subscriptions, their invoices from the market's records.
            "myapps-customer": ([line("GET", "/account/apps", customer)], 'class="invoice-list"'),
            "recommended-customer": ([line("GET", "/recommended", fragment)], "app-card"),
            "api": ([line("GET", "/api/v1/me", {"Authorization": f"Bearer {t}"}) for t in ctx["api_tokens"]],
                    "Company"),
            # The developer's dashboard (this month) of developer@demo.test, whose app
            # time-tracker-pro has 10,000 subscriptions (seed_bulk.developer_subscriptions).
            "dashboard-developer": ([line("GET", "/developer", developer)], 'class="period-form"'),
        }
        results = {}
        # Hello runs before every scenario and once at the end: other work on a shared machine
        # moved hello by a factor of up to 3 within one run, so each scenario is divided by the
        # mean of the hello runs right before and after it.
        hello_runs = []
        for name in args.scenarios:
            run_id = secrets.token_hex(4)
            digests = None
            if name in pages:
                lines, expect = pages[name]
                first = []
                counts = [probe(market.url, lines[i % len(lines)], expect, first) for i in range(12)]
                wrk(market.url, lines, 2, args.connections)  # warm-up: caches, first uses of grants
                record_lines = [lines[i % len(lines)] for i in range(5)]
            else:
                if name == "webhook":
                    lines = webhook_lines(max(20000, int(args.duration * 3000)), run_id)
                    expect = "handled"
                elif name == "token":
                    with db.connection_context():
                        batch = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
                        codes = make_codes(max(20000, int(args.duration * 3000)), ctx, now=batch)
                    lines, expect = token_lines(codes, ctx), "access_token"
                else:  # refresh: each token once (rotation makes a refresh token single-use)
                    tokens = make_refresh_tokens(max(20000, int(args.duration * 3000)), ctx, run_id)
                    lines, expect = refresh_lines(tokens, ctx), "refresh_token"
                counts = [probe(market.url, lines[-1 - i], expect) for i in range(12)]
                # Five more, unused, for the floor's recording.
                record_lines, lines = lines[-17:-12], lines[:-17]
            hello_runs.append(hello_wrk(hello, args))
            log(f"hello: {hello_runs[-1]['rps']} req/s, {hello_runs[-1]['cpu_ms']} CPU ms")
            measured = measure(market, url, lines, args.duration, args.connections)
            # p99 under light load (issue R): a second, short run with 4 connections. One-time
            # requests (codes, events) are taken from the end of the list the first run did not reach.
            rest = lines[-max(len(lines) // 4, 1):] if name in POSTS else lines
            light = wrk(market.url, rest, args.p99_duration, 4)
            measured["p99_4c_ms"], measured["errors"] = light["p99_ms"], measured["errors"] + light["errors"]
            measured["queries"] = statistics.median(counts)
            measured["rss_mb"] = market.peak_rss_mb()
            answered = 12 + measured["requests"] + light["requests"] - measured["errors"]
            in_flight = measured["sent"] - measured["requests"] + light["sent"] - light["requests"]
            idle_cpu_seconds(market)  # the requests still in flight served before their effect is counted
            if name == "token":
                measured["effect"] = token_effect(batch, answered, in_flight)
            elif name == "refresh":
                measured["effect"] = refresh_effect(run_id, answered, in_flight)
            elif name == "webhook":
                measured["effect"] = webhook_effect(run_id, answered, in_flight)
            else:
                # GET bodies (csrf_token values blanked) equal a plain request's (issue R).
                after = send(market.url, lines[0])
                plain = send(market.url, plain_line(name, lines[0])) if name.endswith("-visitor") else first[0]
                digests = {"fast": body_digest(after.content), "plain": body_digest(plain.content)}
                measured["effect"] = {"ok": digests["fast"] == digests["plain"] and after.status_code == 200,
                                      "body_sha256": digests["fast"], "plain_sha256": digests["plain"]}
            if not measured["effect"]["ok"]:
                log(f"{name}: EFFECT CHECK FAILED: {measured['effect']}")
            if args.floor:
                measured["floor"] = floor_run(name, market, url, record_lines, measured["queries"], lines, args,
                                              record_dir)
            results[name] = measured
            log(f"{name}: {measured['rps']} req/s, {measured['cpu_ms']} CPU ms, {measured['queries']} queries, "
                f"{measured['errors']} errors" + (f"; floor {measured['floor']['cpu_ms']} CPU ms"
                                                  if args.floor else ""))
        hello_runs.append(hello_wrk(hello, args))
    finally:
        market.stop()
        hello.stop()
        shutil.rmtree(record_dir, ignore_errors=True)
    hello_rps = statistics.mean(r["rps"] for r in hello_runs)
    scenarios = []
    for i, name in enumerate(args.scenarios):
        r = results[name]
        around = statistics.mean((hello_runs[i]["rps"], hello_runs[i + 1]["rps"]))
        hello_cpu = statistics.mean((hello_runs[i]["cpu_ms"], hello_runs[i + 1]["cpu_ms"]))
        entry = {"name": name, "ratio": round(r["rps"] / around, 3), "rps": r["rps"],
                 "hello_rps": round(around, 1), "cpu_ms": r["cpu_ms"], "hello_cpu_ms": round(hello_cpu, 3),
                 "cpu_ratio": round(hello_cpu / r["cpu_ms"], 3) if r["cpu_ms"] else None,
                 "p50_ms": r["p50_ms"], "p99_ms": r["p99_4c_ms"], "p99_16c_ms": r["p99_ms"],
                 "queries": r["queries"],
                 "rss_mb": r["rss_mb"], "errors": r["errors"], "target": TARGETS[name],
                 "db_cpu_ms": r.get("db_cpu_ms"), "effect": r["effect"]}
        if "floor" in r:
            f = r["floor"]
            entry["floor"] = {"cpu_ms": f["cpu_ms"], "rps": f["rps"], "p50_ms": f["p50_ms"], "p99_ms": f["p99_ms"],
                              "errors": f["errors"], "statements": f["statements"], "body_bytes": f["body_bytes"],
                              "db_cpu_ms": f.get("db_cpu_ms"), "rss_mb": f["rss_mb"]}
            entry["floor_cpu_ratio"] = round(hello_cpu / f["cpu_ms"], 3) if f["cpu_ms"] else None
        scenarios.append(entry)
    return {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu, {platform.python_implementation()} "
                   f"{platform.python_version()}",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "database": args.database, "scale": args.scale, "duration_s": args.duration,
        "hello_duration_s": args.hello_duration,
        "connections": args.connections, "workers": args.workers, "seed_seconds": seconds,
        "rate_limit_storage": args.redis or "memory://",
        "hello": {"rps": round(hello_rps, 1), "runs": [r["rps"] for r in hello_runs],
                  "cpu_ms_runs": [r["cpu_ms"] for r in hello_runs],
                  "p50_ms": hello_runs[0]["p50_ms"], "p99_ms": hello_runs[0]["p99_ms"]},
        "scenarios": scenarios,
    }


def scale_summary(reports):
    """Per scenario, CPU ms and SQL statements per request at each scale (issue R: cost flat
    in the data), flagged when the CPU ms spread more than 15 % or the SQL count differs."""
    scales = {str(r["scale"]): {s["name"]: {"cpu_ms": s["cpu_ms"], "hello_cpu_ms": s["hello_cpu_ms"],
                                            "cpu_ratio": s["cpu_ratio"], "queries": s["queries"]}
                                for s in r["scenarios"]} for r in reports}
    flags = {}
    for name in SCENARIOS:
        at = [figures[name] for figures in scales.values() if name in figures]
        if len(at) < 2:
            continue
        cpu = [f["cpu_ms"] for f in at]
        spread = (max(cpu) - min(cpu)) / min(cpu) if min(cpu) else None
        problems = []
        if spread is None or spread > SCALE_CPU_SPREAD:
            problems.append(f"CPU ms spread {spread:.0%}" if spread is not None else "no CPU figure")
        if len({f["queries"] for f in at}) > 1:
            problems.append("SQL count differs")
        flags[name] = {"cpu_spread": round(spread, 3) if spread is not None else None, "problems": problems}
    return scales, flags


def scale_table(scales, flags):
    keys = list(scales)
    rows = ["scales: CPU ms / SQL statements per request (" + ", ".join(f"scale {k}" for k in keys) + ")",
            f"{'scenario':22} " + " ".join(f"{'CPU@' + k:>9} {'SQL@' + k:>7}" for k in keys) + f" {'spread':>7}"]
    for name, flag in flags.items():
        cells = " ".join(f"{scales[k][name]['cpu_ms']:9.3f} {scales[k][name]['queries']:7g}" for k in keys)
        rows.append(f"{name:22} {cells} {flag['cpu_spread'] or 0:7.1%}  "
                    + ("; ".join(flag["problems"]) if flag["problems"] else "ok"))
    return "\n".join(rows)


def cpu_seconds(server):
    """CPU time (user + system, all threads) the server's workers have spent so far."""
    total = 0
    for pid in server.worker_pids():
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def api_health_cost(args):
    """The `api` scenario's CPU ms per request with API health counting (the market as it is)
    and without it (bench/market_app.py, BENCH_NO_API_HEALTH=1), two servers of the same
    settings in one run, measured in alternating rounds so the shared machine's drift hits both."""
    from market.data import database
    from models import db

    held = hold_database(args.database, args.scale)  # released when the process ends
    url, fresh = database_url(args.database, args.scale, args.reuse)
    if fresh:
        log(f"seeding {url} at scale {args.scale} ...")
        log(f"seeded in {seed(url, args.scale)} s")
    ctx = prepare(url)
    env = {"MARKET_ENV": "production", "SECRET_KEY": SECRET_KEY, "STRIPE_SECRET_KEY": "sk_test_bench",
           "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STRIPE_CONNECT_WEBHOOK_SECRET": CONNECT_WEBHOOK_SECRET,
           "MARKET_URL": "https://market.bench", "PLATFORM_ORG_NUMBER": "559999-0017",
           "PLATFORM_VAT_NUMBER": "SE559999001701", "STRIPE_API_BASE": "http://127.0.0.1:9",
           "DATABASE_URL": url, "MAIL_DISABLED": "1"}
    if args.redis:
        env["RATELIMIT_STORAGE_URI"] = args.redis
    servers = {"with": Server("market-counting", "bench.market_app:create_app()", env, args.workers),
               "without": Server("market-uncounted", "bench.market_app:create_app()",
                                 dict(env, BENCH_NO_API_HEALTH="1"), args.workers)}
    db.initialize(database.open_database(url))
    lines = [line("GET", "/api/v1/me", {"Authorization": f"Bearer {t}"}) for t in ctx["api_tokens"]]
    rounds = {"with": [], "without": []}
    try:
        for server in servers.values():
            probe(server.url, lines[0], "Company")
            wrk(server.url, lines, 2, args.connections)  # warm-up
        for i in range(args.rounds):
            for name in (("with", "without") if i % 2 == 0 else ("without", "with")):
                server = servers[name]
                before = cpu_seconds(server)
                measured = wrk(server.url, lines, args.duration, args.connections)
                spent = cpu_seconds(server) - before
                measured["cpu_ms"] = round(spent * 1000 / max(measured["requests"], 1), 3)
                rounds[name].append(measured)
                log(f"round {i + 1} {name} counting: {measured['rps']} req/s, {measured['cpu_ms']} CPU ms/request, "
                    f"{measured['errors']} errors")
    finally:
        for server in servers.values():
            server.stop()
        held.close()
    summary = {name: {"cpu_ms_per_request": round(statistics.median(r["cpu_ms"] for r in runs), 3),
                      "rps": round(statistics.median(r["rps"] for r in runs), 1),
                      "errors": sum(r["errors"] for r in runs),
                      "rounds_cpu_ms": [r["cpu_ms"] for r in runs]} for name, runs in rounds.items()}
    ratio = summary["with"]["cpu_ms_per_request"] / summary["without"]["cpu_ms_per_request"]
    return {"database": args.database, "scale": args.scale, "duration_s": args.duration, "rounds": args.rounds,
            "rate_limit_storage": args.redis or "memory://", "workers": args.workers,
            "connections": args.connections, **summary, "ratio": round(ratio, 3)}


def table(report):
    rows = [f"{report['database']}, scale {report['scale']}, {report['duration_s']} s each, "
            f"{report['connections']} connections, {report['workers']} workers; hello {report['hello']['rps']} req/s "
            f"(runs {report['hello']['runs']})",
            f"{'scenario':22} {'cpu_r':>6} {'floor':>6} {'ratio':>6} {'target':>6} {'CPU ms':>7} {'fl ms':>6} "
            f"{'req/s':>8} {'hello':>7} {'p50 ms':>7} {'p99 ms':>7} {'SQL':>4} {'RSS MB':>7} {'errors':>6} {'DB ms':>6}"]
    for s in report["scenarios"]:
        problems = []
        if (s["cpu_ratio"] or 0) < s["target"]:
            floor_met = s.get("floor_cpu_ratio") is not None and s["floor_cpu_ratio"] >= s["target"]
            problems.append("cpu" + ("" if "floor_cpu_ratio" not in s else
                                     " (floor meets it)" if floor_met else " (floor misses it too)"))
        if s["errors"]:
            problems.append("errors")
        if s["p99_ms"] > P99_LIMIT_MS and s["name"] not in P99_EXEMPT:
            problems.append("p99")
        if not s["effect"]["ok"]:
            problems.append("effect/body check")
        floor = s.get("floor")
        rows.append(f"{s['name']:22} {s['cpu_ratio'] or 0:6.3f} "
                    f"{s['floor_cpu_ratio'] if floor and s['floor_cpu_ratio'] is not None else '':>6} "
                    f"{s['ratio']:6.3f} {s['target']:6.2f} {s['cpu_ms']:7.3f} {floor['cpu_ms'] if floor else '':>6} "
                    f"{s['rps']:8.1f} {s['hello_rps']:7.0f} {s['p50_ms']:7.2f} "
                    f"{s['p99_ms']:7.2f} {s['queries']:4g} {s['rss_mb'] or 0:7.1f} {s['errors']:6d} "
                    f"{s['db_cpu_ms'] if s['db_cpu_ms'] is not None else '':>6}  "
                    + ("MISS: " + ", ".join(problems) if problems else "ok"))
    peak = max(s["rss_mb"] or 0 for s in report["scenarios"])
    rows.append(f"peak worker RSS {peak} MB (limit {RSS_LIMIT_MB} MB): {'ok' if peak < RSS_LIMIT_MB else 'MISS'}")
    return "\n".join(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description="App Market benchmark (see bench/README.md)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--scale", type=int, default=100, help="100: 10,000 apps, 100,000 companies, "
                        "1,000,000 subscriptions, 300,000 reviews")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per scenario")
    parser.add_argument("--hello-duration", type=int, default=5, help="seconds of each hello run (one before "
                        "every scenario, one after the last)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--p99-duration", type=int, default=5, help="seconds of the 4-connection run (p99)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database of this scale")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15",
                        help="RATELIMIT_STORAGE_URI for the market ('' for per-process memory)")
    parser.add_argument("--baseline", action="store_true", help="also write bench/baseline-<database>.json")
    parser.add_argument("--api-health", action="store_true", help="only the api scenario, with and without "
                        "API health counting side by side: CPU ms per request and their ratio")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds of --api-health")
    parser.add_argument("--scenarios", type=lambda text: [n for n in text.split(",") if n], default=list(SCENARIOS),
                        help="comma-separated names to run, in the usual order (default: all; a baseline needs all)")
    parser.add_argument("--floor", action="store_true", help="beside each scenario, bench/floor.py: its SQL "
                        "statements and answer from a bare WSGI callable under the same gunicorn (floor_cpu_ratio)")
    parser.add_argument("--scales", type=lambda text: [int(n) for n in text.split(",") if n], default=None,
                        help="comma-separated scales, e.g. 1,10,100: the whole run at each (a seeded database of "
                        "each, kept with --reuse), then CPU ms and SQL statements per request compared")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.scenarios) - set(SCENARIOS))
    if unknown:
        parser.error("unknown scenarios: " + ", ".join(unknown))
    args.scenarios = [name for name in SCENARIOS if name in args.scenarios]
    if args.baseline and args.scenarios != list(SCENARIOS):
        parser.error("--baseline needs every scenario")
    if not shutil.which("wrk"):
        sys.exit("wrk is needed (Debian: apt-get install wrk)")
    if args.api_health:
        print(json.dumps(api_health_cost(args), indent=2))
        return
    if args.scales:
        args.scales = sorted(set(args.scales))
        reports = []
        for scale in args.scales:
            args.scale = scale
            reports.append(run(args))
            print(table(reports[-1]), flush=True)
        report = reports[-1]  # the largest scale's figures, with every scale's in "scales"
        report["scales"], report["scale_flags"] = scale_summary(reports)
        print(scale_table(report["scales"], report["scale_flags"]))
    else:
        report = run(args)
        print(table(report))
    with open(os.path.join(BENCH_DIR, "results.json"), "w") as f:
        json.dump(report, f, indent=2)
    if args.baseline:
        with open(os.path.join(BENCH_DIR, f"baseline-{args.database}.json"), "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
