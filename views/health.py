from flask import Blueprint, current_app, jsonify

from models import MarketSetting

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    # The demo (`python app.py`) sets this flag once the market can take a purchase and its
    # helper servers answer; under gunicorn there is no flag and only the database counts.
    if current_app.extensions.get("demo_ready") is False:
        response = jsonify(status="starting")
        response.status_code = 503
        response.headers["Retry-After"] = "1"
        response.headers["Cache-Control"] = "no-store"
        return response
    # One cheap query: a server whose database is gone is not healthy.
    MarketSetting.select().limit(1).exists()
    return jsonify(status="ok")
