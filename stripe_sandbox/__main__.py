"""`python -m stripe_sandbox --port P [--data FILE]` serves the sandbox;
`python -m stripe_sandbox advance --port P --days N [--hours H] [--seconds S]` moves the clock of
the sandbox running on port P and runs what falls due."""

import argparse
import json
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request


def serve(args):
    from werkzeug.serving import WSGIRequestHandler, run_simple

    from .server import Sandbox
    from .testing import QuietHandler

    sandbox = Sandbox(args.data)

    def stop(signum, frame):
        raise KeyboardInterrupt  # leave run_simple, so the state is written before exiting

    signal.signal(signal.SIGTERM, stop)
    print(f"Stripe sandbox on http://{args.host}:{args.port} (state: {args.data or 'in memory'})", flush=True)
    try:
        run_simple(args.host, args.port, sandbox, threaded=True, use_reloader=False,
                   request_handler=WSGIRequestHandler if args.verbose else QuietHandler)
    finally:
        sandbox.close()


def advance(args):
    body = urllib.parse.urlencode({"days": args.days, "hours": args.hours, "seconds": args.seconds,
                                   "wait": "true"}).encode()
    url = f"http://{args.host}:{args.port}/_sandbox/advance"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=300) as resp:
            print(json.dumps(json.loads(resp.read())))
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
        return advance(parser.parse_args(argv[1:]))
    parser = argparse.ArgumentParser(prog="python -m stripe_sandbox")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data", help="JSON file that keeps the sandbox's state across restarts")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    serve(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
