"""Profile one benchmark scenario inside one process: the market's WSGI app called directly
through Flask's test client in a loop on an already seeded database, so where the time goes
shows without gunicorn, wrk or the network.

    .venv/bin/python bench/profile_paths.py sqlite:////tmp/market.db app-customer --n 300
    .venv/bin/python bench/profile_paths.py sqlite:////tmp/market.db all --n 200 --timing

Needs pyinstrument (requirements-dev.txt) unless --timing is given.
"""
import argparse
import base64
import os
import re
import sys
import time
import urllib.parse

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(BENCH_DIR))
sys.path.insert(0, BENCH_DIR)

import run as bench  # noqa: E402


def requests_for(client, ctx, name, n):
    """n (method, path, kwargs) requests of the scenario, as bench/run.py sends them."""
    if name in ("home-customer", "search-customer", "app-customer", "myapps-customer", "recommended-customer",
                "dashboard-developer"):
        page = client.get("/login")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
        email = bench.DEVELOPER if name == "dashboard-developer" else bench.CUSTOMER
        answer = client.post("/login", data={"email": email, "password": bench.PASSWORD, "csrf_token": token})
        assert answer.status_code == 303, answer.status_code
    paths = {"home-visitor": "/", "search-visitor": bench.SEARCH, "app-visitor": f"/apps/{bench.APP_SLUG}",
             "home-customer": "/", "search-customer": bench.SEARCH, "app-customer": f"/apps/{bench.APP_SLUG}",
             "myapps-customer": "/account/apps", "dashboard-developer": "/developer"}
    if name in paths:
        return [("GET", paths[name], {})] * n
    if name == "recommended-customer":
        return [("GET", "/recommended", {"headers": {"HX-Request": "true"}})] * n
    if name == "api":
        return [("GET", "/api/v1/me", {"headers": {"Authorization": f"Bearer {t}"}})
                for t in (ctx["api_tokens"] * (n // len(ctx["api_tokens"]) + 1))[:n]]
    if name == "webhook":
        out = []
        for text in bench.webhook_lines(n, str(time.time_ns())):
            _, path, headers, body = text.split("\t")
            out.append(("POST", path, {"headers": dict(h.split(": ", 1) for h in headers.split("|")),
                                       "data": body}))
        return out
    if name == "token":
        basic = base64.b64encode(f"{ctx['client_id']}:{bench.DEMO_CLIENT_SECRET}".encode()).decode()
        return [("POST", "/oauth-v1/token",
                 {"headers": {"Authorization": "Basic " + basic},
                  "content_type": "application/x-www-form-urlencoded",
                  "data": urllib.parse.urlencode({"grant_type": "authorization_code", "code": code,
                                                  "redirect_uri": ctx["redirect_uri"]})})
                for code in bench.make_codes(n, ctx)]
    if name == "refresh":
        basic = base64.b64encode(f"{ctx['client_id']}:{bench.DEMO_CLIENT_SECRET}".encode()).decode()
        return [("POST", "/oauth-v1/token",
                 {"headers": {"Authorization": "Basic " + basic},
                  "content_type": "application/x-www-form-urlencoded",
                  "data": urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": token})})
                for token in bench.make_refresh_tokens(n, ctx, str(time.time_ns()))]
    raise SystemExit(f"unknown scenario {name}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("scenario", help="a scenario of bench/run.py, or 'all'")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--redis", default="", help="RATELIMIT_STORAGE_URI, as bench/run.py --redis")
    parser.add_argument("--timing", action="store_true", help="only the mean time per request")
    args = parser.parse_args()
    os.environ.update({"MARKET_ENV": "production", "SECRET_KEY": bench.SECRET_KEY,
                       "STRIPE_SECRET_KEY": "sk_test_bench", "STRIPE_WEBHOOK_SECRET": bench.WEBHOOK_SECRET,
                       "STRIPE_CONNECT_WEBHOOK_SECRET": bench.CONNECT_WEBHOOK_SECRET,
                       "MARKET_URL": "https://market.bench", "STRIPE_API_BASE": "http://127.0.0.1:9",
                       "PLATFORM_ORG_NUMBER": "559999-0017", "PLATFORM_VAT_NUMBER": "SE559999001701",
                       "DATABASE_URL": args.url, "MAIL_DISABLED": "1"})
    if args.redis:
        os.environ["RATELIMIT_STORAGE_URI"] = args.redis
    # A bench/run.py database: hold its lock, as run.py does (prepare() renews the `bench-` tokens).
    own = re.search(r"(?:bench-(sqlite)-|market_bench_)(\d+)(?:\.db)?$", args.url)
    held = bench.hold_database(own.group(1) or "postgresql", int(own.group(2))) if own else None  # noqa: F841
    ctx = bench.prepare(args.url)
    import app as market

    flask_app = market.create_app()
    names = bench.SCENARIOS if args.scenario == "all" else [args.scenario]
    hello_ms = _hello_ms()
    print(f"{'hello':22} {hello_ms:7.3f} ms/request (bench/hello.py, the same way)", flush=True)
    for name in names:
        # Production cookies are Secure; the test client speaks https so it keeps them.
        client = flask_app.test_client()
        client.environ_base["wsgi.url_scheme"] = "https"
        client.environ_base["REMOTE_ADDR"] = "127.0.0.1"
        todo = requests_for(client, ctx, name, args.n + 20)
        for method, path, kwargs in todo[:20]:  # warm-up: caches, first uses
            client.open(path, method=method, **kwargs)
        todo = todo[20:]
        profiler = None
        if not args.timing:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005)
            profiler.start()
        started, cpu_started = time.perf_counter(), time.process_time()
        for method, path, kwargs in todo:
            response = client.open(path, method=method, **kwargs)
            assert response.status_code == 200, (name, response.status_code, response.text[:300])
        spent, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        if profiler:
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False, show_all=False))
        ms = spent * 1000 / len(todo)
        cpu_ms = cpu * 1000 / len(todo)  # this process's CPU: waiting for Redis or PostgreSQL is not in it
        print(f"{name:22} {ms:7.2f} ms/request, {hello_ms / ms:5.3f} of hello in-process, {cpu_ms:6.2f} CPU ms",
              flush=True)


def _hello_ms(n=3000):
    """hello's time per request through the test client, measured now: the machine is shared."""
    import hello

    client = hello.create_app().test_client()
    for _ in range(200):
        client.get("/")
    started = time.perf_counter()
    for _ in range(n):
        client.get("/")
    return (time.perf_counter() - started) * 1000 / n


if __name__ == "__main__":
    main()
