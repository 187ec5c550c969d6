"""Stripe set-up for the demo (`python app.py`) and the tests against the sandbox: webhook
endpoints, products and prices, and an onboarded Connect account for the demo developer."""
import re
from urllib.parse import urljoin

import requests

from market.billing import catalogue, connect, gateway
from models import Developer, User


def prepare_demo(config, webhook_url, demo_developer_email="developer@demo.test"):
    """For `python app.py`: both webhook endpoints at the sandbox (their secrets are returned
    for STRIPE_WEBHOOK_SECRET), products and prices, and an onboarded Connect account for the
    demo developer. Imported history (seed data) is never touched."""
    client = gateway.stripe_client(config)
    secrets = []
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
        secrets.append(endpoint.secret)
    # Events start flowing at once (the sync below makes some): verify them from the start.
    config["STRIPE_WEBHOOK_SECRET"] = ",".join(secrets)
    summary = catalogue.sync_all(config)
    user = User.get_or_none(User.email == demo_developer_email)
    if user is not None and user.developer_id:
        developer = Developer.get_by_id(user.developer_id)
        if not developer.stripe_account_id or not developer.payouts_enabled:
            if developer.stripe_account_id and developer.stripe_account_id.startswith("acct_demo"):
                # Seeded placeholder id: the sandbox has no such account.
                Developer.update(stripe_account_id=None).where(Developer.id == developer.id).execute()
                developer.stripe_account_id = None
            link = connect.onboarding_link(config, developer, user.email)
            _complete_sandbox_onboarding(requests, link)
            account = client.v1.accounts.retrieve(developer.stripe_account_id)
            connect.record_account(account)
    return {"webhook_secrets": secrets, **summary}


def _complete_sandbox_onboarding(requests, link):
    """Fill the sandbox's hosted onboarding form like a person would."""
    with requests.Session() as http:
        page = http.get(link, timeout=10)
        page.raise_for_status()
        form = re.search(r'<form[^>]*action="([^"]*)"', page.text)
        fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page.text))
        fields.setdefault("business_type", "company")
        action = form.group(1) if form else link
        if action.startswith("/"):
            action = urljoin(link, action)
        http.post(action, data=fields, timeout=10, allow_redirects=False)
