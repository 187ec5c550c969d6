from flask import Blueprint, jsonify

from models import MarketSetting

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    # One cheap query: a server whose database is gone is not healthy.
    MarketSetting.select().limit(1).exists()
    return jsonify(status="ok")
