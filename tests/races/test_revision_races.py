"""Issue 17 (N): two edits of a published app at once, on PostgreSQL where requests truly run
at once, leave one pending revision (the lock on the app row, and the partial unique index)."""
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from models import App, ListingRevision
from tests.catalog import test_revisions
from tests.oauth.test_oauth_support import LiveServer, browser_login

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def engine():
    """Only the PostgreSQL side of the `app` fixture."""
    return "postgresql"


live_app = test_revisions.live_app
DEV_EMAIL = test_revisions.DEV_EMAIL


def test_concurrent_edits_of_a_published_app_leave_one_pending_revision(app, engine, live_app):
    assert engine == "postgresql"
    server = LiveServer(app)
    try:
        sessions = [browser_login(server.url, DEV_EMAIL) for _ in range(6)]

        def edit(index):
            session = sessions[index]
            page = session.get(server.url + "/developer/apps/backup-app/edit")
            token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
            return session.post(server.url + "/developer/apps/backup-app/edit", allow_redirects=False, timeout=30,
                                data={"csrf_token": token, "name": f"Name {index}", "category": "bookkeeping",
                                      "tagline": "Backs up your books", "description": "Honest words."})

        with ThreadPoolExecutor(max_workers=6) as pool:
            responses = list(pool.map(edit, range(6)))
        assert [r.status_code for r in responses] == [303] * 6, [r.text[:300] for r in responses]
        pending = list(ListingRevision.select().where(ListingRevision.status == "pending"))
        assert len(pending) == 1
        assert re.fullmatch(r'\{"name": "Name [0-5]"\}', pending[0].fields)
        assert App.get_by_id(live_app["app"].id).name == "Backup Helper"
    finally:
        for session in locals().get("sessions", []):
            session.close()
        server.close()
