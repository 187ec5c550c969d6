"""Issue P, Deliver 7: developers are told of a new review of their apps and of the admin's
decision on their listing (approved, or rejected with the reason), once per event."""
from models import OutboxMail, utcnow
from tests import factories
from tests.catalog.test_admin_review import as_admin, ready_app
from tests.catalog.test_revisions import ADMIN_EMAIL, DEV_EMAIL, _attack, live_app  # noqa: F401 (a fixture)


def mails(to, contains=""):
    return list(OutboxMail.select().where(OutboxMail.to == to, OutboxMail.subject.contains(contains))
                .order_by(OutboxMail.id))


def test_a_new_review_is_mailed_to_the_developer_once(client, auth):
    developer = factories.developer()
    dev_user = factories.developer_user(email="dev@vendor.test", developer_obj=developer)
    listing = factories.app_listing(developer_obj=developer, slug="hours", name="Hours")
    named = factories.company(name="Named Bygg AB", show_name_in_reviews=True)
    anna = factories.customer_admin(email="anna@example.test", company_obj=named)
    factories.connection(named, listing, last_used_at=utcnow())
    auth.login(anna.email)
    assert auth.post("/apps/hours/reviews", {"stars": "4", "text": "Good for our crew."}).status_code == 303
    assert auth.post("/apps/hours/reviews", {"stars": "5", "text": "Even better."}).status_code == 303  # an edit
    told = mails(dev_user.email, "New review")
    assert len(told) == 1 and told[0].subject == "New review of Hours: 4 of 5 stars"
    assert "Named Bygg AB gave Hours 4 of 5 stars" in told[0].body and "Good for our crew." in told[0].body
    assert "/developer/reviews#review-" in told[0].body
    auth.logout()
    # A company that did not agree to be named with its reviews is not named in the mail.
    hidden = factories.company(name="Secret Måleri AB")
    bo = factories.customer_admin(email="bo@example.test", company_obj=hidden)
    factories.connection(hidden, listing, last_used_at=utcnow())
    auth.login(bo.email)
    assert auth.post("/apps/hours/reviews", {"stars": "2", "text": ""}).status_code == 303
    second = mails(dev_user.email, "New review")
    assert len(second) == 2 and "Secret Måleri" not in second[1].body
    assert second[1].body.startswith("A customer gave Hours 2 of 5 stars.")
    assert mails(anna.email, "review") == [] and mails(bo.email, "review") == []


def test_approval_is_mailed_to_the_developer_once(client, auth):
    listing, dev_user = ready_app()
    as_admin(auth)
    assert auth.post("/admin/review/queued-app/approve").status_code == 303
    assert auth.post("/admin/review/queued-app/approve").status_code == 409  # not a second decision
    told = mails(dev_user.email)
    assert [m.subject for m in told] == ["Queued-App is approved and published"]
    assert "/developer/apps/queued-app" in told[0].body


def test_rejection_is_mailed_with_its_reason(client, auth):
    listing, dev_user = ready_app()
    as_admin(auth)
    assert auth.post("/admin/review/queued-app/reject", {"reason": "  "}).status_code == 422
    assert mails(dev_user.email) == []  # a refused rejection tells nobody
    reason = "The landing page does not load."
    assert auth.post("/admin/review/queued-app/reject", {"reason": reason}).status_code == 303
    assert auth.post("/admin/review/queued-app/reject", {"reason": reason}).status_code == 422
    told = mails(dev_user.email)
    assert [m.subject for m in told] == ["Queued-App was not approved"]
    assert f"for this reason:\n\n{reason}\n" in told[0].body


def test_a_revisions_decision_is_mailed_once(client, auth, live_app):  # noqa: F811
    _attack(auth)
    auth.login(ADMIN_EMAIL)
    reason = "You are not Fortnox; the link is phishing."
    assert auth.post("/admin/review/backup-app/reject", {"reason": reason}).status_code == 303
    assert auth.post("/admin/review/backup-app/reject", {"reason": reason}).status_code == 422
    told = mails(DEV_EMAIL)
    assert [m.subject for m in told] == ["The changes to Backup Helper were not approved"]
    assert reason in told[0].body
    auth.logout()
    _attack(auth)
    auth.login(ADMIN_EMAIL)
    assert auth.post("/admin/review/backup-app/approve").status_code == 303
    assert [m.subject for m in mails(DEV_EMAIL)][1:] == ["The changes to Fortnox Backup (official) are published"]
