"""Suspected bursts of ratings (issue 17, the admin's `/admin/reports`): per app, ratings written
within 24 hours by 3 or more companies that registered within 24 hours of each other or from
one address (Company.registered_from). The admin may remove a burst: its ratings leave the
app's totals (Review.removed_at) and its page.
"""
import datetime
from dataclasses import dataclass, field

from market.reviews import ratings
from models import App, Company, Review, db, utcnow

WINDOW = datetime.timedelta(hours=24)
MIN_COMPANIES = 3
LOOKBACK = datetime.timedelta(days=90)

TOGETHER = "registered within 24 hours of each other"
ONE_ADDRESS = "registered from one address"


@dataclass
class Burst:
    app: App
    reviews: list = field(default_factory=list)
    reasons: set = field(default_factory=set)

    @property
    def key(self):
        """Names the burst for its Remove button (the app and its first review)."""
        return f"{self.app.id}-{min(r.id for r in self.reviews)}"

    @property
    def first_at(self):
        return min(r.created_at for r in self.reviews)

    @property
    def last_at(self):
        return max(r.created_at for r in self.reviews)

    @property
    def mean_stars(self):
        return sum(r.stars for r in self.reviews) / len(self.reviews)


def _groups_in(window):
    """Sets of review ids in one 24-hour window that look like one hand: 3+ companies from one
    address, or 3+ companies registered within 24 hours of each other."""
    found = []
    by_address = {}
    for review in window:
        if review.company.registered_from:
            by_address.setdefault(review.company.registered_from, []).append(review)
    for group in by_address.values():
        if len({r.company_id for r in group}) >= MIN_COMPANIES:
            found.append(({r.id for r in group}, ONE_ADDRESS))
    by_registration = sorted(window, key=lambda r: r.company.created_at)
    for i, first in enumerate(by_registration):
        together = [r for r in by_registration[i:] if r.company.created_at - first.company.created_at <= WINDOW]
        if len({r.company_id for r in together}) >= MIN_COMPANIES:
            found.append(({r.id for r in together}, TOGETHER))
    return found


def _bursts_of(app, reviews):
    groups = []
    for i, start in enumerate(reviews):
        window = [r for r in reviews[i:] if r.created_at - start.created_at <= WINDOW]
        groups.extend(_groups_in(window))
    merged = []  # [(ids, reasons)], overlapping groups joined
    for ids, reason in groups:
        ids, reasons = set(ids), {reason}
        rest = []
        for other_ids, other_reasons in merged:
            if other_ids & ids:
                ids |= other_ids
                reasons |= other_reasons
            else:
                rest.append((other_ids, other_reasons))
        merged = rest + [(ids, reasons)]
    by_id = {r.id: r for r in reviews}
    return [Burst(app, sorted((by_id[i] for i in ids), key=lambda r: (r.created_at, r.id)), reasons)
            for ids, reasons in merged]


def suspected_bursts(now=None):
    """Every suspected burst of the last 90 days whose ratings still count, newest first."""
    now = now or utcnow()
    rows = (Review.select(Review, Company, App).join(Company, on=(Review.company == Company.id))
            .switch(Review).join(App, on=(Review.app == App.id))
            .where(Review.removed_at.is_null(), Review.imported == False,  # noqa: E712
                   Review.created_at >= now - LOOKBACK)
            .order_by(Review.app, Review.created_at, Review.id))
    per_app = {}
    for review in rows:
        per_app.setdefault(review.app_id, (review.app, []))[1].append(review)
    bursts = []
    for app, reviews in per_app.values():
        bursts.extend(_bursts_of(app, reviews))
    return sorted(bursts, key=lambda b: b.last_at, reverse=True)


def remove_burst(key, now=None):
    """Take the burst's ratings out of the totals; False when no such burst is (still) there."""
    burst = next((b for b in suspected_bursts(now) if b.key == key), None)
    if burst is None:
        return False
    with db.atomic():
        Review.update(removed_at=now or utcnow()).where(
            Review.id.in_([r.id for r in burst.reviews]), Review.removed_at.is_null()).execute()
        ratings.recount_app_ratings(burst.app.id)
    return True
