"""`POST /stripe/webhook`: both of Stripe's endpoints post here, the platform's and, with
`?connect=1`, the connected accounts'; each verified with its own secrets only and taking only
its own kind of event. Authenticated by the signature, so no CSRF token."""
from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from market.billing import after_events, webhooks
from views.security import csrf_exempt

bp = Blueprint("webhooks", __name__)


@bp.post("/stripe/webhook")
@csrf_exempt
def stripe_webhook():
    if (request.content_length or 0) > webhooks.MAX_BODY_BYTES:
        return jsonify(error="body too large"), 400
    connect = request.args.get("connect") in ("1", "true")
    try:
        payload = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return jsonify(error="body too large"), 400
    try:
        event = webhooks.verify(payload, request.headers.get("Stripe-Signature"),
                                webhooks.webhook_secrets(current_app.config, connect), connect)
    except webhooks.InvalidEvent as error:
        return jsonify(error=str(error)), 400
    try:
        outcome = after_events.process(current_app.config, event)
    except webhooks.RetryLater as error:
        current_app.logger.warning("webhook %s %s: retry later: %s", event["id"], event["type"], error)
        return jsonify(error="not handled yet; retry"), 503
    except Exception:
        # Rolled back with the event row, so Stripe's redelivery starts clean.
        current_app.logger.exception("webhook %s %s failed", event["id"], event["type"])
        return jsonify(error="failed; retry"), 500
    return jsonify(received=True, outcome=outcome), 200
