"""Recommended apps: `/recommended` and the store home's `#recommended` section (issue I)."""
from flask import Blueprint, current_app, render_template
from flask_login import current_user
from markupsafe import Markup

from market.recommendations import ranking as recommendations
from views import render_page
from views.caching import kept, visitor_cached

bp = Blueprint("recommended", __name__)

# At most 12 cards, on the home page and on /recommended alike (issue P 9).
SECTION_SIZE = 6
PAGE_SIZE = 12


def recommended_cards(limit=SECTION_SIZE):
    """The logged-in company's ranking, or the visitors' list (the same for everyone, so the
    page that shows it can be cached). Returns (cards, personal)."""
    config = current_app.config
    min_active, min_rating = config["RECOMMEND_MIN_ACTIVE"], config["RECOMMEND_MIN_RATING"]
    user = current_user.user if current_user.is_authenticated else None
    if user is not None and user.company_id is not None:
        return _company_cards(user.company, min_active, min_rating, limit), True
    return recommendations.recommended_for_visitors(min_active, min_rating, limit), False


def _company_cards(company, min_active, min_rating, limit):
    """A company's ranking, kept beside the store's pages for as long as the store generation
    (every change to figures, ratings or listings bumps it) and the apps the company has stay
    the same: ranking 500 candidates costs tens of milliseconds, and a customer sees the home
    page and the Recommended page again and again."""
    owned = recommendations.company_app_ids(company)
    key = ("recommended", company.id, company.industry, company.size, owned, limit, min_active, min_rating)
    return kept(key, lambda: KeptCards(recommendations.recommended_for_company(company, min_active, min_rating,
                                                                                limit, owned=owned)))


class KeptCards(list):
    """A company's kept ranking, with its section's HTML once rendered (`recommended_section`)."""

    html = None


@bp.app_template_global()
def recommended_section(cards, personal):
    """The Recommended section: `{{ recommended_section(recommended_cards, personal) }}`. A kept
    ranking's section is rendered once and kept with it: the cards are most of the time of
    the home page and of /recommended for a logged-in customer."""
    html = getattr(cards, "html", None)
    if html is None or html[0] != personal:
        html = (personal, Markup(render_template("recommended/_section.html", recommended_cards=cards,
                                                 personal=personal)))
        if isinstance(cards, KeptCards):
            cards.html = html
    return html[1]


@bp.get("/recommended")
@visitor_cached
def recommended():
    cards, personal = recommended_cards(PAGE_SIZE)
    return render_page("recommended/page.html", "recommended", recommended_cards=cards, personal=personal)
