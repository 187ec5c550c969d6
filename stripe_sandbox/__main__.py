"""`STRIPE_SANDBOX_KEYS=sk_test_... python -m stripe_sandbox --port P [--data FILE] [--key-file F]`
serves the sandbox, accepting only those keys;
`python -m stripe_sandbox advance --port P --days N [--hours H] [--seconds S]` moves the clock of
the sandbox running on port P and runs what falls due."""

import argparse
import json
import os
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request


def serve(args):
    from werkzeug.serving import WSGIRequestHandler, run_simple

    from .server import Sandbox, keys_from_environment
    from .testing import QuietHandler

    keys = keys_from_environment()
    if args.key_file:
        with open(args.key_file, encoding="utf-8") as handle:
            keys += [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    if not keys:
        print("the Stripe sandbox needs the secret keys it accepts: STRIPE_SANDBOX_KEYS=sk_test_... "
              "(comma-separated) or --key-file FILE (one a line)", file=sys.stderr)
        return 2
    try:
        sandbox = Sandbox(args.data, api_keys=keys)
    except ValueError as error:
        print(f"the Stripe sandbox: {error}", file=sys.stderr)
        return 2

    def stop(signum, frame):
        raise KeyboardInterrupt  # leave run_simple, so the state is written before exiting

    signal.signal(signal.SIGTERM, stop)
    print(f"Stripe sandbox on http://{args.host}:{args.port} (state: {args.data or 'in memory'})", flush=True)
    try:
        run_simple(args.host, args.port, sandbox, threaded=True, use_reloader=False,
                   request_handler=WSGIRequestHandler if args.verbose else QuietHandler)
    finally:
        sandbox.close()
    return 0


DEMO_KEY = "sk_test_demo_market"  # the demo's own key (market/config.py), which its sandbox accepts


def advance(args):
    body = urllib.parse.urlencode({"days": args.days, "hours": args.hours, "seconds": args.seconds,
                                   "wait": "true"}).encode()
    url = f"http://{args.host}:{args.port}/_sandbox/advance"
    key = (args.key or next(iter([k.strip() for k in os.environ.get("STRIPE_SANDBOX_KEYS", "").split(",")
                                  if k.strip()]), None) or os.environ.get("STRIPE_SECRET_KEY") or DEMO_KEY)
    request = urllib.request.Request(url, data=body, method="POST", headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=300) as resp:
            print(json.dumps(json.loads(resp.read())))
    except urllib.error.HTTPError as exc:
        print(f"the sandbox at {url} refused: {exc.code} {exc.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"cannot reach the sandbox at {url}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "advance":
        parser = argparse.ArgumentParser(prog="python -m stripe_sandbox advance")
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--days", type=int, default=0)
        parser.add_argument("--hours", type=int, default=0)
        parser.add_argument("--seconds", type=int, default=0)
        parser.add_argument("--key", help="the sandbox's secret key (default: STRIPE_SANDBOX_KEYS, "
                                          "STRIPE_SECRET_KEY, else the demo's)")
        return advance(parser.parse_args(argv[1:]))
    parser = argparse.ArgumentParser(prog="python -m stripe_sandbox")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data", help="JSON file that keeps the sandbox's state across restarts")
    parser.add_argument("--key-file", help="the secret keys it accepts, one a line (besides STRIPE_SANDBOX_KEYS)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
