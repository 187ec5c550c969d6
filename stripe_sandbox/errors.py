"""Stripe-shaped API errors: the status and `type` decide which exception the library raises."""


class StripeError(Exception):
    """An error answered as `{"error": {...}}` with Stripe's status codes.

    400/404 + invalid_request_error -> InvalidRequestError, 400 + idempotency_error ->
    IdempotencyError, 401 -> AuthenticationError, 402 + card_error -> CardError,
    403 -> PermissionError, 409 -> APIError (the library retries it).
    """

    def __init__(self, status, message, *, type="invalid_request_error", code=None, param=None, **extra):
        super().__init__(message)
        self.status = status
        self.body = {"type": type, "message": message}
        if code:
            self.body["code"] = code
        if param:
            self.body["param"] = param
        self.body.update(extra)

    def to_json(self, request_id=None):
        body = dict(self.body)
        # As Stripe's errors: a link to the code's documentation (or to the error types').
        body.setdefault("doc_url", f"https://stripe.com/docs/error-codes/{body['code'].replace('_', '-')}"
                        if body.get("code") else "https://stripe.com/docs/api/errors")
        if request_id:
            body["request_log_url"] = None
        return {"error": body}


def invalid(message, param=None, code=None):
    return StripeError(400, message, param=param, code=code)


def missing(param):
    return StripeError(400, f"Missing required param: {param}.", param=param, code="parameter_missing")


def unknown(param):
    return StripeError(400, f"Received unknown parameter: {param}", param=param, code="parameter_unknown")


def no_such(kind, value, param="id"):
    return StripeError(404, f"No such {kind}: '{value}'", param=param, code="resource_missing")


def card_declined(message="Your card was declined.", decline_code="generic_decline", code="card_declined",
                  charge=None):
    extra = {"decline_code": decline_code}
    if charge:
        extra["charge"] = charge
    return StripeError(402, message, type="card_error", code=code, **extra)
