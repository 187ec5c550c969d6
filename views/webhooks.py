"""`POST /stripe/webhook`: both of Stripe's endpoints (the platform's and, with `?connect=1`,
the connected accounts') post here. Authenticated by the signature, so no CSRF token."""
from flask import Blueprint, current_app, jsonify, request

from market.billing import webhooks
from views.security import csrf_exempt

bp = Blueprint("webhooks", __name__)


@bp.post("/stripe/webhook")
@csrf_exempt
def stripe_webhook():
    payload = request.get_data(cache=False)
    try:
        event = webhooks.verify(payload, request.headers.get("Stripe-Signature"),
                                webhooks.webhook_secrets(current_app.config))
    except webhooks.InvalidEvent as error:
        return jsonify(error=str(error)), 400
    try:
        outcome = webhooks.handle(current_app.config, event)
    except webhooks.RetryLater as error:
        current_app.logger.warning("webhook %s %s: retry later: %s", event["id"], event["type"], error)
        return jsonify(error="not handled yet; retry"), 503
    except Exception:
        # Rolled back with the event row, so Stripe's redelivery starts clean.
        current_app.logger.exception("webhook %s %s failed", event["id"], event["type"])
        return jsonify(error="failed; retry"), 500
    return jsonify(received=True, outcome=outcome), 200
