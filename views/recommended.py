"""Recommended apps: `/recommended` and the store home's `#recommended` section (issue I)."""
from flask import Blueprint, current_app
from flask_login import current_user

import recommendations
from views import render_page
from views.store import visitor_cached

bp = Blueprint("recommended", __name__)

SECTION_SIZE = 6
PAGE_SIZE = 24


def recommended_cards(limit=SECTION_SIZE):
    """The logged-in company's ranking, or the visitors' list (the same for everyone, so the
    page that shows it can be cached). Returns (cards, personal)."""
    config = current_app.config
    min_active, min_rating = config["RECOMMEND_MIN_ACTIVE"], config["RECOMMEND_MIN_RATING"]
    user = current_user.user if current_user.is_authenticated else None
    if user is not None and user.company_id is not None:
        return recommendations.recommended_for_company(user.company, min_active, min_rating, limit), True
    return recommendations.recommended_for_visitors(min_active, min_rating, limit), False


@bp.get("/recommended")
@visitor_cached
def recommended():
    cards, personal = recommended_cards(PAGE_SIZE)
    return render_page("recommended/page.html", "recommended", recommended_cards=cards, personal=personal)
