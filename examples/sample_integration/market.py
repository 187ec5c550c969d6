"""Talking to the App Market: the OAuth token endpoint and the API, with tokens kept per
company and refreshed with rotation. Only `requests` and the standard library."""
import contextlib
import json
import os
import threading
import time
from urllib.parse import urlencode

import requests

try:  # Unix: a file lock lets several worker processes share one token file safely.
    import fcntl
except ImportError:  # pragma: no cover - Windows: the in-process lock still serialises threads
    fcntl = None

# Refresh a little before the access token expires, so a request never starts with a dead one.
REFRESH_EARLY_SECONDS = 30
# The API's error code for a company whose entitlement to the app has ended.
NOT_ENTITLED_CODE = 2000663


class AccessWithdrawn(Exception):
    """The company revoked our access, or the grant ended: connect again from the market."""


class SubscriptionLapsed(Exception):
    """The company no longer pays for the app (HTTP 403 with the entitlement code)."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Busy(Exception):
    """The API's rate limit (HTTP 429): wait `retry_after` seconds."""

    def __init__(self, retry_after):
        super().__init__(retry_after)
        self.retry_after = retry_after


class MarketError(Exception):
    """The market could not be reached or answered something we did not expect."""


class TokenStore:
    """Tokens per company (the market's opaque company id), in memory and, when a path is given,
    in a JSON file that every worker reads and writes under a file lock."""

    def __init__(self, path=None):
        self._path = path
        self._threads = threading.Lock()
        self._tokens = {}

    @contextlib.contextmanager
    def locked(self):
        """Held while a refresh is under way, by one thread of one process at a time."""
        with self._threads:
            if self._path and fcntl is not None:
                with open(self._path + ".lock", "a", encoding="utf-8") as handle:
                    fcntl.flock(handle, fcntl.LOCK_EX)
                    try:
                        yield
                    finally:
                        fcntl.flock(handle, fcntl.LOCK_UN)
            else:
                yield

    def _load(self):
        if self._path and os.path.exists(self._path):
            with open(self._path, encoding="utf-8") as handle:
                self._tokens = json.load(handle)
        return self._tokens

    def _save(self):
        if self._path:
            temporary = f"{self._path}.{os.getpid()}.tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump(self._tokens, handle)
            os.chmod(temporary, 0o600)
            os.replace(temporary, self._path)

    def get(self, company):
        token = self._load().get(company)
        return dict(token) if token else None

    def put(self, company, token):
        self._load()[company] = dict(token)
        self._save()

    def forget(self, company):
        self._load().pop(company, None)
        self._save()


class Market:
    """One app's view of the market: its client credentials, its tokens, its API calls."""

    def __init__(self, market_url, client_id, client_secret, redirect_uri, scope, tokens, timeout=10):
        self.url = market_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.scope = scope
        self.tokens = tokens
        self.timeout = timeout

    # -- OAuth --------------------------------------------------------------------------------

    def authorization_url(self, state, code_challenge):
        """Where the customer gives consent. `access_type=offline` asks for a refresh token."""
        query = urlencode({"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                           "scope": self.scope, "state": state, "code_challenge": code_challenge,
                           "code_challenge_method": "S256", "access_type": "offline"})
        return f"{self.url}/oauth-v1/auth?{query}"

    def _token_request(self, fields):
        """POST to the token endpoint with HTTP Basic client authentication; the token with its
        expiry as a time, or raises AccessWithdrawn (invalid_grant) or MarketError."""
        try:
            response = requests.post(self.url + "/oauth-v1/token", data=fields, timeout=self.timeout,
                                     auth=(self.client_id, self.client_secret))
        except requests.RequestException as error:
            raise MarketError("the token endpoint could not be reached") from error
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code == 400 and answer.get("error") == "invalid_grant":
            raise AccessWithdrawn()
        if response.status_code != 200 or "access_token" not in answer:
            raise MarketError(f"the token endpoint answered {response.status_code} {answer.get('error', '')}")
        answer["expires_at"] = int(time.time()) + int(answer.get("expires_in", 3600))
        return answer

    def exchange_code(self, code, code_verifier):
        """The authorization code (and our PKCE verifier) for the first token pair."""
        return self._token_request({"grant_type": "authorization_code", "code": code,
                                    "redirect_uri": self.redirect_uri, "code_verifier": code_verifier})

    def fresh_token(self, company):
        """The company's access token, refreshed when it is about to expire. Refresh tokens
        rotate: each is good once, and the answer holds the next one, which we must keep. Two
        workers refreshing at once would spend the same refresh token twice, so a refresh
        happens under the store's lock, and whoever waited finds the new pair already there."""
        token = self.tokens.get(company)
        if token is None:
            raise AccessWithdrawn()
        if token.get("expires_at", 0) - REFRESH_EARLY_SECONDS > time.time():
            return token
        with self.tokens.locked():
            current = self.tokens.get(company)
            if current is None:
                raise AccessWithdrawn()
            if current.get("refresh_token") != token.get("refresh_token") or \
                    current.get("expires_at", 0) - REFRESH_EARLY_SECONDS > time.time():
                return current  # another worker refreshed while we waited
            if not current.get("refresh_token"):
                self.tokens.forget(company)
                raise AccessWithdrawn()
            try:
                new = self._token_request({"grant_type": "refresh_token",
                                           "refresh_token": current["refresh_token"]})
            except AccessWithdrawn:
                self.tokens.forget(company)  # revoked, expired, or replayed: connect again
                raise
            new.setdefault("refresh_token", current["refresh_token"])
            self.tokens.put(company, new)
            return new

    # -- the API ------------------------------------------------------------------------------

    def _get(self, access_token, path):
        try:
            return requests.get(self.url + "/api/v1" + path, timeout=self.timeout,
                                headers={"Authorization": "Bearer " + access_token, "Accept": "application/json"})
        except requests.RequestException as error:
            raise MarketError("the API could not be reached") from error

    def whoami(self, token):
        """The company that just gave consent (before its tokens are stored)."""
        response = self._get(token["access_token"], "/me")
        if response.status_code != 200:
            raise MarketError(f"/me answered {response.status_code}")
        return response.json()["Me"]["Company"]["Id"]

    def get(self, company, path):
        """GET an API path for a company: its JSON, or one of the exceptions above."""
        response = self._get(self.fresh_token(company)["access_token"], path)
        if response.status_code == 401:
            self.tokens.forget(company)
            raise AccessWithdrawn()
        if response.status_code == 403:
            try:
                info = response.json().get("ErrorInformation", {})
            except ValueError:
                info = {}
            if info.get("code") == NOT_ENTITLED_CODE:
                raise SubscriptionLapsed(info.get("message", "The subscription has lapsed."))
        if response.status_code == 429:
            raise Busy(response.headers.get("Retry-After", "5"))
        if response.status_code != 200:
            raise MarketError(f"{path} answered {response.status_code}")
        return response.json()
