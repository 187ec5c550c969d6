"""Ratings and reviews (DESIGN.md §3): 1–5 stars and an optional text from verified customers,
one per company and app, with the app's rating figures kept current in the same transaction.

Who may do what (decided here, said once):
- write: any user of a company that is a verified customer of the app
  (market.reviews.customers, the one definition; only their ratings count in the totals);
- change or delete the company's review: the company's admins, or the member who wrote it;
- reply: a user of the app's developer, once per review;
- report: any logged-in user, with a reason.
"""
import datetime
from collections import Counter, defaultdict
from dataclasses import dataclass

from peewee import JOIN, Case, fn

from market.accounts import companies
from market.catalog import store
from market.core import words
from market.data import prepared
from market.reviews import customers
from models import (
    App,
    AppStats,
    Company,
    Connection,
    IntegrityError,
    Review,
    ReviewReply,
    ReviewReport,
    User,
    db,
    utcnow,
)

MAX_TEXT = 2000
MAX_REPLY = 2000
MAX_REASON = 500
MAX_REPORTS_PER_DAY = 10
REPORT_WINDOW = datetime.timedelta(days=1)
STARS = (1, 2, 3, 4, 5)


class ReviewError(words.Refusal):
    """Refused, with a message for the person (views/reviews.py answers each kind, in the
    reader's language)."""


class InvalidReview(ReviewError):
    """Stars, text, reply or reason that cannot be taken."""


class NotACustomer(ReviewError):
    """Only a verified customer writes, and only its author or an admin changes a review."""


class NotYours(ReviewError):
    """Someone else's review, reply or app: answered like a guessed id."""


class AlreadyReplied(ReviewError):
    """The developer's one reply is written."""


class AlreadyReported(ReviewError):
    """One report per person and review (issue O, finding 8)."""


class TooManyReports(ReviewError):
    """A person reports at most MAX_REPORTS_PER_DAY reviews a day (issue O, finding 8)."""


# -- who may -----------------------------------------------------------------------------------

def is_verified_customer(company, app):
    """DESIGN.md §3's verified customer: market.reviews.customers decides."""
    return customers.is_verified_customer(company, app)


def may_change(user, review):
    return (user.company_id == review.company_id
            and (user.company_role == "admin" or user.id == review.user_id))


# -- input -------------------------------------------------------------------------------------

def parse_review(stars, text):
    """Stars 1–5 and a plain text of at most MAX_TEXT characters, or InvalidReview."""
    try:
        value = int(str(stars).strip())
    except (TypeError, ValueError):
        raise InvalidReview(words.marked("Choose from 1 to 5 stars.")) from None
    if not 1 <= value <= 5 or str(stars).strip() != str(value):
        raise InvalidReview(words.marked("Choose from 1 to 5 stars."))
    text = (text or "").replace("\r\n", "\n").strip()
    if len(text) > MAX_TEXT:
        raise InvalidReview(words.marked("The review may be at most %(max)s characters."), max=f"{MAX_TEXT:,}")
    if "\x00" in text:
        raise InvalidReview(words.marked("The review contains characters that cannot be stored."))
    return value, text


# -- the rating figures --------------------------------------------------------------------------

@dataclass(frozen=True)
class RatingTotals:
    """Some ratings summed, the one definition of an app's rating figures: how many of each star
    they are, and from that their count, sum and mean in hundredths of a star rounded down
    (AppStats.rating_centi, which the store sorts and filters by: >= 300 is exactly "mean >= 3")."""
    stars: tuple = (0, 0, 0, 0, 0)  # how many ratings of 1, 2, 3, 4 and 5 stars

    @classmethod
    def of(cls, counts):
        """From {stars: how many}; anything but 1–5 stars is not a rating."""
        return cls(tuple(int(counts.get(s, 0)) for s in STARS))

    @property
    def count(self):
        return sum(self.stars)

    @property
    def sum(self):
        return sum(s * n for s, n in zip(STARS, self.stars, strict=True))

    @property
    def centi(self):
        return self.sum * 100 // self.count if self.count else 0

    def columns(self):
        """The AppStats columns these totals fill."""
        return {"rating_sum": self.sum, "rating_count": self.count, "rating_centi": self.centi,
                **{f"stars_{s}": n for s, n in zip(STARS, self.stars, strict=True)}}


def rating_totals(ratings):
    """The totals of some ratings (star values), e.g. [5, 4, 4] → count 3, sum 13, centi 433."""
    return RatingTotals.of(Counter(ratings))


def app_rating_totals():
    """{app id: RatingTotals} of every app with ratings, from the reviews (one GROUP BY query);
    what stats-rebuild writes, and what `_apply_rating_change` keeps current review by review."""
    counts = defaultdict(dict)
    for app_id, stars, n in (Review.select(Review.app, Review.stars, fn.COUNT(Review.id))
                             .where(Review.stars.in_(STARS), customers.counted_reviews())
                             .group_by(Review.app, Review.stars).tuples()):
        counts[app_id][stars] = n
    return {app_id: RatingTotals.of(by_stars) for app_id, by_stars in counts.items()}


def recount_app_ratings(app_id):
    """The app's rating figures from its counted reviews again, after something changed whose
    ratings count (a full refund, reviews removed by the admin); bumps the store generation."""
    by_stars = dict(Review.select(Review.stars, fn.COUNT(Review.id))
                    .where(Review.app == app_id, Review.stars.in_(STARS), customers.counted_reviews())
                    .group_by(Review.stars).tuples())
    AppStats.insert(app=app_id).on_conflict_ignore().execute()
    AppStats.update({**RatingTotals.of(by_stars).columns(), "updated_at": utcnow()}).where(
        AppStats.app == app_id).execute()
    _store_changed()


def _apply_rating_change(app_id, add=None, remove=None):
    """Move one rating into and/or out of the app's figures with one UPDATE, so two reviews
    written at once both count (RatingTotals in SQL, row by row).

    Every SET expression sees the row as it was, so rating_centi is computed from the new sum
    and count written in the same statement; integer division rounds down like `centi`."""
    AppStats.insert(app=app_id).on_conflict_ignore().execute()
    sum_delta = (add or 0) - (remove or 0)
    count_delta = (1 if add else 0) - (1 if remove else 0)
    changes = {AppStats.rating_sum: AppStats.rating_sum + sum_delta,
               AppStats.rating_count: AppStats.rating_count + count_delta,
               AppStats.updated_at: utcnow()}
    for stars in {add, remove} - {None}:
        column = getattr(AppStats, f"stars_{stars}")
        changes[column] = column + (1 if stars == add else 0) - (1 if stars == remove else 0)
    new_count = AppStats.rating_count + count_delta
    changes[AppStats.rating_centi] = Case(None, [(new_count > 0, (AppStats.rating_sum + sum_delta) * 100
                                                  / new_count)], 0)
    AppStats.update(changes).where(AppStats.app == app_id).execute()


def _store_changed():
    store.bump_store_generation()


# -- writing ---------------------------------------------------------------------------------------

def save_review(company, user, app, stars, text, now=None):
    """Write the company's review of the app, or change it. Returns (review, created)."""
    stars, text = parse_review(stars, text)
    if not is_verified_customer(company, app):
        if app.is_free:
            raise NotACustomer(words.marked("Only companies that use this app can review it: a company may rate it "
                                            "once its API connection has been used on 3 different days. Test "
                                            "companies never rate."))
        raise NotACustomer(words.marked("Only companies that use this app can review it: a company may rate it once "
                                        "it has paid an invoice for it that was not refunded. Test companies never "
                                        "rate."))
    now = now or utcnow()
    with db.atomic():
        review = _locked_review(company, app)
        if review is not None:
            if not may_change(user, review):
                raise NotACustomer(words.marked("Your company's review was written by a colleague; only they "
                                                "or a company admin can change it."))
            old = review.stars
            counted_before = customers.review_counts(review)
            Review.update(stars=stars, text=text, updated_at=now).where(Review.id == review.id).execute()
            counted_after = review.removed_at is None  # its company is verified (checked above)
            if (old, counted_before) != (stars, counted_after):
                _apply_rating_change(app.id, add=stars if counted_after else None,
                                     remove=old if counted_before else None)
            created = False
        else:
            try:
                with db.atomic():
                    review = Review.create(company=company, app=app, user=user, stars=stars, text=text,
                                           created_at=now, updated_at=now)
            except IntegrityError:
                # Another tab of the same company wrote first: theirs is the one review.
                raise InvalidReview(words.marked("Your company's review was just written elsewhere. "
                                                     "Reload the page to change it.")) from None
            _apply_rating_change(app.id, add=stars)
            created = True
        _store_changed()
    return Review.get_by_id(review.id), created


def _locked_review(company, app):
    query = Review.select().where(Review.company == company, Review.app == app)
    if db.obj is not None and db.obj.__class__.__name__.startswith("MarketPostgresql"):
        query = query.for_update()
    return query.first()


def delete_review(company, user, app):
    """Delete the company's review; NotYours when there is none this user may delete."""
    with db.atomic():
        review = _locked_review(company, app)
        if review is None or not may_change(user, review):
            raise NotYours(words.marked("There is no review of yours to delete."))
        counted = customers.review_counts(review)
        Review.delete().where(Review.id == review.id).execute()
        if counted:
            _apply_rating_change(app.id, remove=review.stars)
        _store_changed()


def reply_to_review(user, review_id, text):
    """The app's developer answers a review, once."""
    review = (Review.select(Review, App).join(App)
              .where(Review.id == review_id).first())
    if review is None or not user.developer_id or review.app.developer_id != user.developer_id:
        raise NotYours(words.marked("There is no such review of your apps."))
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        raise InvalidReview(words.marked("Write a reply."))
    if len(text) > MAX_REPLY or "\x00" in text:
        raise InvalidReview(words.marked("The reply may be at most %(max)s characters."), max=f"{MAX_REPLY:,}")
    try:
        with db.atomic():
            ReviewReply.create(review=review, developer=user.developer_id, text=text)
            _store_changed()
    except IntegrityError:
        raise AlreadyReplied(words.marked("This review already has your reply.")) from None
    return review


def report_review(user, review_id, reason):
    review = Review.select(Review, App).join(App).where(Review.id == review_id).first()
    if review is None or review.app.status != "published":
        raise NotYours(words.marked("There is no such review."))
    reason = (reason or "").strip()
    if not reason:
        raise InvalidReview(words.marked("Say what is wrong with this review."))
    if len(reason) > MAX_REASON or "\x00" in reason:
        raise InvalidReview(words.marked("The reason may be at most %(max)s characters."), max=MAX_REASON)
    user_id = getattr(user, "id", user)
    if ReviewReport.select().where(ReviewReport.review == review.id, ReviewReport.user == user_id).exists():
        raise AlreadyReported(words.marked("You have already reported this review; the App Market will look at it."))
    recent = (ReviewReport.select()
              .where(ReviewReport.user == user_id, ReviewReport.created_at > utcnow() - REPORT_WINDOW).count())
    if recent >= MAX_REPORTS_PER_DAY:
        raise TooManyReports(words.marked("You can report at most %(max)s reviews a day. Please try again tomorrow."),
                             max=MAX_REPORTS_PER_DAY)
    return ReviewReport.create(review=review, user=user, reason=reason)


def resolve_report(report_id, now=None):
    return ReviewReport.update(resolved_at=now or utcnow()).where(
        ReviewReport.id == report_id, ReviewReport.resolved_at.is_null()).execute()


def remove_reported_review(report_id):
    """The admin takes a reported review down; its reports go with it."""
    with db.atomic():
        report = ReviewReport.get_or_none(ReviewReport.id == report_id)
        if report is None:
            return False
        review = Review.get_or_none(Review.id == report.review_id)
        if review is None:
            return False
        counted = customers.review_counts(review)
        Review.delete().where(Review.id == review.id).execute()
        if counted:
            _apply_rating_change(review.app_id, remove=review.stars)
        _store_changed()
    return True


# -- reading ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShownReview:
    """A review as the app page shows it: never the company's name unless it agreed."""
    id: int
    stars: int
    text: str
    author: str
    used_for: str
    written_at: object
    edited: bool
    reply: str | None
    reply_at: object


def usage_length(since, now):
    """How long the company has used the app, in words."""
    if since is None:
        return ""
    days = max((now - since).days, 0)
    if days < 30:
        return words.Phrase(words.marked("Used the app for less than a month"))
    if days < 365:
        months = days // 30
        if months == 1:
            return words.Phrase(words.marked("Used the app for 1 month"))
        return words.Phrase(words.marked("Used the app for %(n)s months"), n=months)
    years = days // 365
    if years == 1:
        return words.Phrase(words.marked("Used the app for 1 year"))
    return words.Phrase(words.marked("Used the app for %(n)s years"), n=years)


def industry_phrase(industry):
    """An anonymous reviewer as a page names it: its industry, in the reader's words."""
    return _industry_label(industry)


def _industry_label(industry):
    """The industry's name (companies.INDUSTRIES), or "A company" for none, as a phrase."""
    label = companies.INDUSTRIES.get(industry or "")
    return words.Phrase(label if label else words.marked("A company"))


def app_reviews(app, limit=50, now=None):
    """The newest reviews with their authors' industries and replies (one query)."""
    now = now or utcnow()
    rows = (Review.select(Review, Company, Connection.created_at.alias("connected_at"), ReviewReply)
            .join(Company)
            .switch(Review).join(Connection, JOIN.LEFT_OUTER,
                                 on=((Connection.company == Review.company) & (Connection.app == Review.app)))
            .switch(Review).join(ReviewReply, JOIN.LEFT_OUTER)
            .where(Review.app == app, Review.removed_at.is_null())
            .order_by(Review.updated_at.desc(), Review.id.desc())
            .limit(limit))
    shown = []
    for review in rows:
        company = review.company
        industry = _industry_label(company.industry)
        author = (words.Phrase("%(company)s · %(industry)s", company=company.name, industry=industry)
                  if company.show_name_in_reviews else industry)
        connected_at = getattr(review, "connected_at", None) or getattr(
            getattr(review, "connection", None), "connected_at", None)
        reply = getattr(review, "reviewreply", None)
        shown.append(ShownReview(
            review.id, review.stars, review.text, author, usage_length(connected_at, now),
            review.created_at, review.updated_at > review.created_at,
            reply.text if reply and reply.id else None, reply.created_at if reply and reply.id else None))
    return shown


def company_review(company, app):
    if company is None:
        return None
    return prepared.first("company_review", lambda company_id, app_id: Review.select().where(
        Review.company == company_id, Review.app == app_id).limit(1), getattr(company, "id", company),
        getattr(app, "id", app))


def open_reports(limit=200):
    return list(ReviewReport.select(ReviewReport, Review, App, User)
                .join(Review).join(App)
                .switch(ReviewReport).join(User)
                .where(ReviewReport.resolved_at.is_null())
                .order_by(ReviewReport.created_at)
                .limit(limit))
