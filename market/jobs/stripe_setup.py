"""Stripe set-up for the demo (`python app.py`) and the tests against the sandbox: webhook
endpoints, products and prices, and an onboarded Connect account for the demo developer."""
from market.billing import catalogue, connect, gateway
from models import Developer, User


def prepare_demo(config, webhook_url, demo_developer_email="developer@demo.test"):
    """For `python app.py`: both webhook endpoints at the sandbox (their secrets are set as
    STRIPE_WEBHOOK_SECRET, the platform endpoint's, and STRIPE_CONNECT_WEBHOOK_SECRET, the
    Connect endpoint's, and returned), products and prices, and an onboarded Connect account
    for the demo developer. Imported history (seed data) is never touched."""
    client = gateway.stripe_client(config)
    secrets = {}
    urls = {False: webhook_url, True: webhook_url + "?connect=1"}
    # A signing secret is shown only when an endpoint is made, so the demo's endpoints are made
    # anew on every start; the old ones would deliver with secrets nobody has any more.
    for endpoint in client.v1.webhook_endpoints.list({"limit": 100}).auto_paging_iter():
        if endpoint.url in urls.values():
            client.v1.webhook_endpoints.delete(endpoint.id)
    wanted = {False: ["*"], True: ["account.updated", "account.application.deauthorized"]}
    for connect_endpoint in (False, True):
        endpoint = client.v1.webhook_endpoints.create({
            "url": urls[connect_endpoint], "enabled_events": wanted[connect_endpoint], "connect": connect_endpoint,
            "description": "App Market " + ("connected accounts" if connect_endpoint else "platform"),
        })
        secrets[connect_endpoint] = endpoint.secret
    # Events start flowing at once (the sync below makes some): verify them from the start,
    # each endpoint with its own secret only.
    config["STRIPE_WEBHOOK_SECRET"] = secrets[False]
    config["STRIPE_CONNECT_WEBHOOK_SECRET"] = secrets[True]
    summary = catalogue.sync_all(config)
    user = User.get_or_none(User.email == demo_developer_email)
    if user is not None and user.developer_id:
        developer = Developer.get_by_id(user.developer_id)
        if not developer.stripe_account_id or not developer.payouts_enabled:
            if developer.stripe_account_id and developer.stripe_account_id.startswith("acct_demo"):
                # Seeded placeholder id: the sandbox has no such account.
                Developer.update(stripe_account_id=None).where(Developer.id == developer.id).execute()
                developer.stripe_account_id = None
            account_id = connect.ensure_connect_account(config, developer, user.email)
            connect.record_account(_complete_sandbox_onboarding(client, account_id))
    return {"webhook_secret": secrets[False], "connect_webhook_secret": secrets[True], **summary}


def _complete_sandbox_onboarding(client, account_id):
    """Finish the demo developer's Connect onboarding through the sandbox's test helper (its
    API, in Stripe's test-helper style), which submits the hosted form's test values; answers
    the onboarded account. Only the demo and the tests run this: a real Stripe has no such
    endpoint, and a real developer onboards in Stripe's own pages."""
    response = client.raw_request("post", f"/v1/test_helpers/accounts/{account_id}/complete_onboarding")
    return client.deserialize(response, api_mode="V1")
