"""Issue U (rest), item 2: mail "to the company's admins" reaches the admins who belong to the
company through a membership (a bureau's users, issue T), not only those whose current company
it is; a member (not admin) through a membership gets none."""
from market.accounts import companies
from models import OutboxMail
from tests import factories
from tests.billing.conftest import event, invoice_object, post_event, subscription_object


def _subjects(to):
    return [m.subject for m in OutboxMail.select().where(OutboxMail.to == to).order_by(OutboxMail.id)]


def _bureau_people(company):
    bureau = factories.company(industry="accounting")
    admin = factories.customer_admin(company_obj=bureau)  # current company: the bureau
    companies.add_membership(admin, company.id, "admin")
    member = factories.customer_admin(company_obj=bureau)  # admin of the bureau, a member of the client
    companies.add_membership(member, company.id, "member")
    return admin, member


def test_company_admins_includes_admins_through_memberships(app, customer):
    own_admin, company = customer
    bureau_admin, bureau_member = _bureau_people(company)
    plain_member = factories.user(company=company, company_role="member")
    ids = [u.id for u in companies.company_admins(company)]
    assert ids == sorted([own_admin.id, bureau_admin.id])
    assert plain_member.id not in ids and bureau_member.id not in ids
    assert [u.id for u in companies.company_admins(company.id)] == ids
    # The bureau's own admins are the bureau's, the client's admin is not one of them.
    assert own_admin.id not in [u.id for u in companies.company_admins(bureau_admin.company_id)]


def test_a_bureau_admin_gets_the_receipt_and_the_payment_failed_mail(client, fake_stripe, paid_app, customer):
    listing, plan, _ = paid_app
    own_admin, company = customer
    bureau_admin, bureau_member = _bureau_people(company)
    sub = subscription_object("sub_bureau", "active", company, listing, plan)
    fake_stripe.subscriptions[sub["id"]] = sub
    assert post_event(client, event("customer.subscription.created", sub)).status_code == 200
    paid = invoice_object("in_bureau_paid", sub, 19900)
    paid["billing_reason"] = "subscription_create"
    assert post_event(client, event("invoice.paid", paid)).status_code == 200
    receipts = _subjects(bureau_admin.email)
    assert len(receipts) == 1 and listing.name in receipts[0]
    assert _subjects(own_admin.email) == receipts

    past_due = dict(sub, status="past_due")
    fake_stripe.subscriptions[sub["id"]] = past_due
    failed = invoice_object("in_bureau_failed", past_due, 19900)
    failed["status"] = "open"
    assert post_event(client, event("invoice.payment_failed", failed)).status_code == 200
    told = _subjects(bureau_admin.email)
    assert len(told) == 2 and listing.name in told[1] and told[1] != told[0]
    assert _subjects(own_admin.email) == told
    assert _subjects(bureau_member.email) == []
