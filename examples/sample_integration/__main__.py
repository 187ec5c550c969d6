"""`python -m sample_integration` (or `python -m examples.sample_integration` in the market's
repository): the sample integration, configured by environment variables (see README.md);
the command-line flags of the same names override them."""
import argparse
import json
import os
import sys

from werkzeug.serving import WSGIRequestHandler, make_server

from .app import create_app


class QuietRequestHandler(WSGIRequestHandler):
    """The access log without query strings: landing links, OAuth codes and states never reach
    a log file, where anyone who reads it could use them."""

    def log_request(self, code="-", size="-"):
        path = self.path.split("?", 1)[0]
        self.log("info", '"%s %s %s" %s %s', self.command, path, self.request_version, code, size)


def load_apps(path):
    """Multi-app mode: a JSON list of {"slug", "client_id", "client_secret", "landing_secret",
    "name"}, each app served at /apps/<slug>/."""
    if not path:
        return []
    with open(path, encoding="utf-8") as handle:
        apps = json.load(handle)
    for entry in apps:
        missing = [field for field in ("slug", "client_id", "client_secret", "landing_secret") if not entry.get(field)]
        if missing:
            raise SystemExit(f"{path}: an app lacks {', '.join(missing)}")
    return apps


def main(argv=None):
    env = os.environ.get
    parser = argparse.ArgumentParser(description="Run the App Market's sample integration.")
    parser.add_argument("--port", type=int, default=int(env("SAMPLE_PORT", "5001")))
    parser.add_argument("--host", default=env("SAMPLE_HOST", "127.0.0.1"))
    parser.add_argument("--market-url", "--market", dest="market_url",
                        default=env("SAMPLE_MARKET_URL", "http://127.0.0.1:5000"))
    parser.add_argument("--client-id", default=env("SAMPLE_CLIENT_ID", "sample-integration"))
    parser.add_argument("--client-secret", default=env("SAMPLE_CLIENT_SECRET"))
    parser.add_argument("--landing-secret", default=env("SAMPLE_LANDING_SECRET"),
                        help="shown on the app's credentials page in the App Market")
    parser.add_argument("--redirect-uri", default=env("SAMPLE_REDIRECT_URI"),
                        help="default http://127.0.0.1:<port>/callback")
    parser.add_argument("--token-file", default=env("SAMPLE_TOKEN_FILE"),
                        help="keep tokens in this JSON file across restarts")
    parser.add_argument("--apps-file", default=env("SAMPLE_APPS_FILE"),
                        help="multi-app mode: a JSON list of more apps to serve at /apps/<slug>/")
    args = parser.parse_args(argv)
    if not args.client_secret or not args.landing_secret:
        parser.error("SAMPLE_CLIENT_SECRET and SAMPLE_LANDING_SECRET (or --client-secret and --landing-secret) "
                     "are required: the App Market shows both on the app's credentials page")
    public_url = f"http://127.0.0.1:{args.port}"
    app = create_app(args.market_url, args.client_id, args.client_secret,
                     args.redirect_uri or public_url + "/callback", args.landing_secret,
                     secret_key=env("SAMPLE_SECRET_KEY"), token_file=args.token_file, public_url=public_url,
                     notification_secrets=[s for s in env("SAMPLE_NOTIFICATION_SECRETS", "").split(",") if s],
                     apps=load_apps(args.apps_file))
    try:
        server = make_server(args.host, args.port, app, threaded=True, request_handler=QuietRequestHandler)
    except OSError as error:
        print(f"sample integration: cannot listen on {args.host}:{args.port}: {error.strerror}", file=sys.stderr)
        return 1
    print(f"Sample integration on {public_url}/ (market {args.market_url})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
