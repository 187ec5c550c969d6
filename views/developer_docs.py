"""`/developers/docs`: the developer guide (OAuth, scopes, landing links, notifications, rate
limits, errors, the OpenAPI document). Public: a developer reads it before registering."""
from flask import Blueprint, current_app

from market.core import scopes
from views import render_page

bp = Blueprint("developer_docs", __name__)

# The API's limit (views/api.py) in the guide's words.
RATE_LIMIT_TEXT = "25 requests per 5 seconds per client and company"


@bp.get("/developers/docs")
def guide():
    market_url = current_app.config["MARKET_URL"].rstrip("/")
    return render_page("developer/docs.html", market_url=market_url, scopes=list(scopes.SCOPES.items()),
                       rate_limit=RATE_LIMIT_TEXT)
