"""The market's benchmark (QUALITY.md 34): throughput as a ratio to a bare Flask "hello".

    .venv/bin/python bench/run.py --database sqlite --scale 100 --duration 10
    .venv/bin/python bench/run.py --database postgresql --reuse --baseline

Seeds a fresh database (`bench/seed_bulk.py`: at --scale 100, 10,000 apps, 100,000 companies,
1,000,000 subscriptions, 300,000 reviews), starts the market and a bare Flask app under gunicorn
with the same settings (gunicorn.conf.py, 2 workers), and drives each scenario from wrk, a
separate process on loopback. Prints requests per second as a ratio to hello, p50 and p99
latency, SQL statements per request (the X-Bench-Queries header of bench/market_app.py) and the
peak RSS of a market worker; writes bench/results.json (and bench/baseline-<database>.json with
--baseline).
"""
import argparse
import base64
import datetime
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
PASSWORD = "demo-pass-123"
BENCH_ACCOUNT = "acct_bench_webhooks"
API_TOKENS = 3000
ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL",
                           os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"))
SCENARIOS = ("home-visitor", "search-visitor", "app-visitor", "home-customer", "search-customer",
             "app-customer", "myapps-customer", "recommended-customer", "webhook", "token", "api")
# The targets of issue R, judged on cpu_ratio (hello's CPU ms per request / the scenario's).
TARGETS = {"home-visitor": 1.0, "search-visitor": 1.0, "app-visitor": 1.0, "home-customer": 0.35,
           "search-customer": 0.35, "app-customer": 0.35, "myapps-customer": 0.3, "recommended-customer": 0.5,
           "webhook": 0.35,
           "token": 0.35, "api": 0.6}
RSS_LIMIT_MB = 150
P99_LIMIT_MS = 50  # in the 4-connection run
SEARCH = "/apps?q=l%C3%B6n"  # "lön": payroll apps, a common Swedish query with many hits
APP_SLUG = "lonekollen"


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- the database
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


def make_codes(count, ctx):
    """`count` fresh authorization codes for the token exchange (each can be redeemed once)."""
    from market.core import credentials
    from models import AuthorizationCode, db, utcnow

    now = utcnow()
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


def login(market):
    """The customer's session cookie, got through the login form (production cookies are Secure;
    loopback is plain http, so the cookie is carried by hand)."""
    page = requests.get(market.url + "/login", timeout=10)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    response = requests.post(market.url + "/login", data={"email": CUSTOMER, "password": PASSWORD,
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


def probe(base_url, request_line, expect):
    """One request as wrk would send it: its status and the SQL statements it ran."""
    method, path, header_text, body = request_line.split("\t")
    headers = dict(h.split(": ", 1) for h in header_text.split("|")) if header_text else {}
    response = requests.request(method, base_url + path, headers=headers, data=body.encode() or None,
                                allow_redirects=False, timeout=30)
    if response.status_code != 200 or (expect and expect not in response.text):
        raise RuntimeError(f"{path}: {response.status_code}, expected 200 with {expect!r}: {response.text[:300]}")
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
            "p99_ms": round(result["p99_us"] / 1000, 2), "requests": result["requests"], "errors": errors}


def hello_wrk(hello, args):
    before = hello.cpu_seconds()
    result = wrk(hello.url, [line("GET", "/")], args.hello_duration, args.connections)
    result["cpu_ms"] = round((hello.cpu_seconds() - before) * 1000 / max(result["requests"], 1), 3)
    return result


# ---------------------------------------------------------------------------- the run
def run(args):
    from market.data import database
    from models import db

    url, fresh = database_url(args.database, args.scale, args.reuse)
    seconds = None
    if fresh:
        log(f"seeding {url} at scale {args.scale} ...")
        seconds = seed(url, args.scale)
        log(f"seeded in {seconds} s")
    ctx = prepare(url)
    env = {"MARKET_ENV": "production", "SECRET_KEY": SECRET_KEY, "STRIPE_SECRET_KEY": "sk_test_bench",
           "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STRIPE_CONNECT_WEBHOOK_SECRET": CONNECT_WEBHOOK_SECRET,
           "MARKET_URL": "https://market.bench", "PLATFORM_ORG_NUMBER": "559999-0017",
           "PLATFORM_VAT_NUMBER": "SE559999001701",
           # Nothing benchmarked talks to Stripe; were something to, it fails fast and shows.
           "STRIPE_API_BASE": "http://127.0.0.1:9", "DATABASE_URL": url, "BENCH_COUNT_QUERIES": "1",
           "MAIL_DISABLED": "1"}
    if args.redis:
        env["RATELIMIT_STORAGE_URI"] = args.redis
    hello = Server("hello", "bench.hello:create_app()", {"MARKET_ENV": "production"}, args.workers)
    market = Server("market", "bench.market_app:create_app()", env, args.workers)
    db.initialize(database.open_database(url))
    try:
        cookie = login(market)
        customer = {"Cookie": cookie}
        fragment = {"Cookie": cookie, "HX-Request": "true"}
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
        }
        results = {}
        # Hello runs before every scenario and once at the end: other work on a shared machine
        # moved hello by a factor of up to 3 within one run, so each scenario is divided by the
        # mean of the hello runs right before and after it.
        hello_runs = []
        for name in args.scenarios:
            if name in pages:
                lines, expect = pages[name]
                counts = [probe(market.url, lines[i % len(lines)], expect) for i in range(12)]
                wrk(market.url, lines, 2, args.connections)  # warm-up: caches, first uses of grants
            elif name == "webhook":
                lines = webhook_lines(max(20000, int(args.duration * 3000)), secrets.token_hex(4))
                counts = [probe(market.url, lines[-1 - i], "handled") for i in range(12)]
                lines = lines[:-12]
            else:
                with db.connection_context():
                    codes = make_codes(max(15000, int(args.duration * 1500)), ctx)
                lines = token_lines(codes, ctx)
                counts = [probe(market.url, lines[-1 - i], "access_token") for i in range(12)]
                lines = lines[:-12]
            hello_runs.append(hello_wrk(hello, args))
            log(f"hello: {hello_runs[-1]['rps']} req/s, {hello_runs[-1]['cpu_ms']} CPU ms")
            db_cpu = database_cpu_seconds(url)
            app_cpu = market.cpu_seconds()
            measured = wrk(market.url, lines, args.duration, args.connections)
            measured["cpu_ms"] = round((market.cpu_seconds() - app_cpu) * 1000 / max(measured["requests"], 1), 3)
            if db_cpu is not None:
                spent = database_cpu_seconds(url) - db_cpu
                measured["db_cpu_ms"] = round(spent * 1000 / max(measured["requests"], 1), 3)
                measured["cpu_ms"] = round(measured["cpu_ms"] + measured["db_cpu_ms"], 3)
            # p99 under light load (issue R): a second, short run with 4 connections. One-time
            # requests (codes, events) are taken from the end of the list the first run did not reach.
            rest = lines[-max(len(lines) // 4, 1):] if name in ("webhook", "token") else lines
            light = wrk(market.url, rest, args.p99_duration, 4)
            measured["p99_4c_ms"], measured["errors"] = light["p99_ms"], measured["errors"] + light["errors"]
            measured["queries"] = statistics.median(counts)
            measured["rss_mb"] = market.peak_rss_mb()
            results[name] = measured
            log(f"{name}: {measured['rps']} req/s, {measured['queries']} queries, {measured['errors']} errors")
        hello_runs.append(hello_wrk(hello, args))
    finally:
        market.stop()
        hello.stop()
    hello_rps = statistics.mean(r["rps"] for r in hello_runs)
    scenarios = []
    for i, name in enumerate(args.scenarios):
        r = results[name]
        around = statistics.mean((hello_runs[i]["rps"], hello_runs[i + 1]["rps"]))
        hello_cpu = statistics.mean((hello_runs[i]["cpu_ms"], hello_runs[i + 1]["cpu_ms"]))
        scenarios.append({"name": name, "ratio": round(r["rps"] / around, 3), "rps": r["rps"],
                          "hello_rps": round(around, 1), "cpu_ms": r["cpu_ms"], "hello_cpu_ms": round(hello_cpu, 3),
                          "cpu_ratio": round(hello_cpu / r["cpu_ms"], 3) if r["cpu_ms"] else None,
                          "p50_ms": r["p50_ms"], "p99_ms": r["p99_4c_ms"], "p99_16c_ms": r["p99_ms"],
                          "queries": r["queries"],
                          "rss_mb": r["rss_mb"], "errors": r["errors"], "target": TARGETS[name],
                          "db_cpu_ms": r.get("db_cpu_ms")})
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
            f"{'scenario':22} {'cpu_r':>6} {'ratio':>6} {'target':>6} {'CPU ms':>7} {'req/s':>8} {'hello':>7} {'p50 ms':>7} {'p99 ms':>7} {'SQL':>4} "
            f"{'RSS MB':>7} {'errors':>6} {'DB ms':>6}"]
    for s in report["scenarios"]:
        met = "ok" if (s["cpu_ratio"] or 0) >= s["target"] and not s["errors"] and s["p99_ms"] <= P99_LIMIT_MS \
            else "MISS"
        rows.append(f"{s['name']:22} {s['cpu_ratio'] or 0:6.3f} {s['ratio']:6.3f} {s['target']:6.2f} "
                    f"{s['cpu_ms']:7.3f} {s['rps']:8.1f} {s['hello_rps']:7.0f} {s['p50_ms']:7.2f} "
                    f"{s['p99_ms']:7.2f} {s['queries']:4g} {s['rss_mb'] or 0:7.1f} {s['errors']:6d} "
                    f"{s['db_cpu_ms'] if s['db_cpu_ms'] is not None else '':>6}  {met}")
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
