"""Issue O, finding 6: reset, invitation and email-change tokens, and OAuth codes, appeared in
the access logs. The demo's werkzeug log and gunicorn's access log now redact them."""
import importlib.util
import logging
import os
import threading
import urllib.error
import urllib.request

from werkzeug.serving import make_server

from market.core import log_redaction

SECRETS = ("tok-reset-1234567890", "tok-invite-1234567890", "tok-email-1234567890", "code-abcdef123456",
           "state-987654")
PATHS = ("/reset/tok-reset-1234567890", "/invite/tok-invite-1234567890",
         "/account/email/confirm/tok-email-1234567890",
         "/oauth-v1/auth?client_id=x&code=code-abcdef123456&state=state-987654")


def test_the_demos_request_log_holds_no_url_secret(app, caplog):
    # An anonymous visitor to the authorize URL is sent to /login?next=<the URL, encoded>.
    assert log_redaction.redact("/login?next=/oauth-v1/auth%3Fclient_id%3Dx%26state%3Dstate-987654%26a%3Db") == (
        "/login?next=/oauth-v1/auth%3Fclient_id%3Dx%26state%3D[redacted]%26a%3Db")
    log_redaction.redact_logger("werkzeug")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            for path in PATHS:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=10).read()
                except urllib.error.HTTPError:
                    pass
    finally:
        server.shutdown()
        thread.join(5)
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name == "werkzeug")
    assert "/reset/[redacted]" in logged and "code=[redacted]" in logged
    for secret in SECRETS:
        assert secret not in logged


def test_gunicorns_access_log_holds_no_url_secret():
    spec = importlib.util.spec_from_file_location(
        "gunicorn_conf", os.path.join(os.path.dirname(__file__), "..", "..", "gunicorn.conf.py"))
    conf = importlib.util.module_from_spec(spec)
    environ_before = os.environ.get("MARKET_ENV")
    spec.loader.exec_module(conf)
    if environ_before is None:
        os.environ.pop("MARKET_ENV", None)
    else:
        os.environ["MARKET_ENV"] = environ_before

    class Config:
        access_log_format = '%(h)s "%(r)s" %(s)s "%(f)s"'

    class Request:
        method, query, version = "GET", "code=code-abcdef123456&state=state-987654", (1, 1)
        path = "/reset/tok-reset-1234567890"
        uri = path + "?" + query
        headers = []

    class Response:
        status, response_length, sent = "200 OK", 0, 0
        headers = []

    logger = conf.RedactingLogger.__new__(conf.RedactingLogger)
    logger.cfg = Config()
    environ = {"REMOTE_ADDR": "127.0.0.1", "RAW_URI": Request.uri, "QUERY_STRING": Request.query,
               "PATH_INFO": Request.path, "REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1",
               "HTTP_REFERER": "http://x/invite/tok-invite-1234567890"}
    import datetime

    atoms = logger.atoms(Response(), Request(), environ, datetime.timedelta(seconds=0.01))
    line = " ".join(str(v) for v in atoms.values())
    for secret in SECRETS[:2] + SECRETS[3:]:
        assert secret not in line
    assert "/reset/[redacted]" in atoms["r"]
