"""`python -m examples.sample_integration --port 5001 --market-url http://127.0.0.1:5000
--client-id sample-integration --client-secret demo-secret [--landing-secret S]`."""
import argparse
import os
import sys

from werkzeug.serving import make_server

from examples.sample_integration.app import create_app


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run the App Market's sample integration.")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--market-url", "--market", dest="market_url", default="http://127.0.0.1:5000")
    parser.add_argument("--client-id", default=os.environ.get("SAMPLE_CLIENT_ID", "sample-integration"))
    parser.add_argument("--client-secret", default=os.environ.get("SAMPLE_CLIENT_SECRET"))
    parser.add_argument("--landing-secret", default=os.environ.get("SAMPLE_LANDING_SECRET"),
                        help="shown on the app's credentials page in the App Market (env SAMPLE_LANDING_SECRET)")
    parser.add_argument("--redirect-uri", default=None, help="default http://127.0.0.1:<port>/callback")
    parser.add_argument("--token-file", default=os.environ.get("SAMPLE_TOKEN_FILE"),
                        help="keep tokens in this JSON file across restarts")
    parser.add_argument("--secret-key", default=os.environ.get("SAMPLE_SECRET_KEY"))
    args = parser.parse_args(argv)
    if not args.client_secret or not args.landing_secret:
        parser.error("--client-secret and --landing-secret (or SAMPLE_CLIENT_SECRET / SAMPLE_LANDING_SECRET) "
                     "are required")
    redirect_uri = args.redirect_uri or f"http://127.0.0.1:{args.port}/callback"
    app = create_app(args.market_url, args.client_id, args.client_secret, redirect_uri, args.landing_secret,
                     secret_key=args.secret_key, token_file=args.token_file,
                     notification_secrets=[s for s in os.environ.get("SAMPLE_NOTIFICATION_SECRETS", "").split(",")
                                           if s])
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"Sample integration on http://127.0.0.1:{args.port}/ (market {args.market_url})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
