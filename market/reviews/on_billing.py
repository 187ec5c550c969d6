"""What the reviews room does when billing changes something (connected in market.wiring): a
payment refunded in full no longer makes its company a verified customer, so the app's rating
figures are recounted from the ratings that still count, in billing's transaction."""
from market.reviews import ratings


def recount_after_reversal(payment, config, now):
    """billing.payment_reversed."""
    ratings.recount_app_ratings(payment.app_id)
