"""Issue P 5: rich listings. Screenshots checked by content, support, website, privacy policy
(a checklist step), the data the app can reach, last updated and a feature list per plan; all
of it goes through revisions after approval; the developer previews the store's own app page
and the admin reviews that same page."""
import html
import re
import struct
import zlib

import pytest

from market.catalog import listings
from market.core.scopes import SCOPES
from models import App, Developer, ListingRevision
from tests import factories

DEV_EMAIL, ADMIN_EMAIL = "dev@vendor.test", "root@example.test"


def png(width=320, height=200):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def jpeg(width=400, height=300):
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x00" * 32 + b"\xff\xd9"


@pytest.fixture
def app_config(tmp_path):
    return {"ICON_DIR": str(tmp_path / "icons")}


@pytest.fixture
def draft(auth):
    developer = factories.developer(name="Vendor AB", payouts_enabled=True)
    factories.developer_user(email=DEV_EMAIL, developer_obj=developer)
    listing = listings.create_listing(developer, {"slug": "rich-app", "name": "Rich App", "description": "Words."})
    listings.update_integration(listing, {"landing_url": "https://rich.example.test/",
                                          "redirect_uris": "https://rich.example.test/cb"},
                                ["companyinformation", "invoice"])
    auth.login(DEV_EMAIL)
    return App.get_by_id(listing.id)


def upload(auth, data, filename="shot.png"):
    """The form as a browser sends it, built here: the test client would spool a large body to
    a temporary file it never closes."""
    boundary = "----screenshot-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{auth.csrf()}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="screenshot"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return auth._client.post("/developer/apps/rich-app/screenshots", data=body,
                             content_type=f"multipart/form-data; boundary={boundary}")


def screenshots(slug="rich-app"):
    return App.get(App.slug == slug).screenshots.split()


def test_screenshots_are_checked_by_content_not_by_name(auth, draft):
    assert upload(auth, png(), "anything.txt").status_code == 303  # a PNG whatever it is called
    assert upload(auth, jpeg(), "photo.png").status_code == 303     # a JPEG called .png is a JPEG
    names = screenshots()
    assert [name.rsplit(".", 1)[1] for name in names] == ["png", "jpg"]
    for bad in (b"GIF89a" + b"\x00" * 64,                       # another type
                b"<svg xmlns='http://www.w3.org/2000/svg'/>",   # script-capable, named .png
                b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,             # a PNG signature with no readable size
                png()[:20] + b"\x00" * 13,                       # IHDR with a wrong CRC
                png(20, 20),                                     # too small to be a screenshot
                b"\xff\xd8\xff\xe0" + b"\x00" * 64,              # a JPEG signature, no frame
                b"",
                png() + b"\x00" * (1536 * 1024)):              # over the 1.5 MiB cap
        response = upload(auth, bad, "shot.png")
        assert response.status_code == 422, bad[:12]
        assert 'id="f-screenshot-error"' in response.get_data(as_text=True)
    # Over what a request may carry at all: refused before the form is read.
    assert upload(auth, png() + b"\x00" * (2 * 1024 * 1024), "shot.png").status_code == 413
    assert screenshots() == names  # nothing changed


def test_at_most_six_screenshots_and_they_can_be_removed(auth, draft):
    for _ in range(6):
        assert upload(auth, png()).status_code == 303
    assert upload(auth, png()).status_code == 422
    names = screenshots()
    assert len(names) == 6
    assert auth.post(f"/developer/apps/rich-app/screenshots/{names[0]}/remove").status_code == 303
    assert screenshots() == names[1:]
    assert auth.post("/developer/apps/rich-app/screenshots/nope.png/remove").status_code == 404


def test_screenshots_are_served_by_the_market_safely(auth, client, draft):
    upload(auth, png())
    name = screenshots()[0]
    with client.get(f"/screenshots/{name}") as response:
        assert response.status_code == 200 and response.data == png()
        assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert client.get("/screenshots/..%2Fsecret.png").status_code == 404
    assert client.get("/screenshots/abc.svg").status_code == 404


def test_the_privacy_policy_is_required_before_submitting(auth, client, draft):
    page = client.get("/developer/apps/rich-app").get_data(as_text=True)
    assert 'data-step="privacy_url"' in page and re.search(r'<button type="submit" disabled>Submit', page)
    assert auth.post("/developer/apps/rich-app/submit").status_code == 422
    assert App.get_by_id(draft.id).status == "draft"
    for bad in ("javascript:alert(1)", "http://example.com/privacy", "not a url"):
        response = auth.post("/developer/apps/rich-app/edit", {"name": "Rich App", "privacy_url": bad})
        assert response.status_code == 422, bad
    assert auth.post("/developer/apps/rich-app/edit", {
        "name": "Rich App", "privacy_url": "https://rich.example.test/privacy"}).status_code == 303
    assert auth.post("/developer/apps/rich-app/submit").status_code == 303
    assert App.get_by_id(draft.id).status == "in_review"


def test_support_is_an_email_address_or_a_url(auth, draft):
    for bad in ("support@", "a b@example.com", "<x>@example.com", "ftp://example.com", "javascript:alert(1)@x.se"):
        assert auth.post("/developer/apps/rich-app/edit", {"name": "Rich App", "support": bad}).status_code == 422, bad
    assert App.get_by_id(draft.id).support == ""
    assert auth.post("/developer/apps/rich-app/edit", {"name": "Rich App", "support": "help@rich.example.test"}
                     ).status_code == 303
    assert App.get_by_id(draft.id).support == "help@rich.example.test"


def publish(listing, **fields):
    defaults = {"status": "published", "support": "help@rich.example.test", "website_url": "https://rich.example.test/",
                "privacy_url": "https://rich.example.test/privacy"}
    defaults.update(fields)
    App.update(**defaults).where(App.id == listing.id).execute()


def test_the_app_page_shows_the_rich_listing(auth, client, draft):
    upload(auth, png())
    upload(auth, jpeg())
    auth.post("/developer/apps/rich-app/plans", {"name": "Standard", "price_kr": "249",
                                                 "description": "Time reports\nOne user"})
    auth.post("/developer/apps/rich-app/plans", {"name": "Plus", "price_kr": "497",
                                                 "description": "Everything in Standard\r\nUnlimited users\n\n"})
    publish(draft)
    auth.logout()
    page = client.get("/apps/rich-app").get_data(as_text=True)
    assert '<a rel="help" href="mailto:help@rich.example.test">' in page
    assert '<a rel="privacy-policy" href="https://rich.example.test/privacy">' in page
    assert 'href="https://rich.example.test/"' in page
    assert len(re.findall(r"<img [^>]*data-screenshot", page)) == 2
    for name in screenshots():
        assert f'src="/screenshots/{name}"' in page
    # The scopes in plain words, from market/core/scopes.py.
    assert SCOPES["companyinformation"] in html.unescape(page)  # the scopes in plain words
    assert SCOPES["invoice"] in html.unescape(page)
    assert "Read and change your customer register." not in page
    assert re.search(r'<time datetime="\d{4}-\d{2}-\d{2}" data-updated>', page)
    assert re.search(r'data-plan-features="Plus">.*<li>Everything in Standard</li><li>Unlimited users</li></ul>',
                     page, re.S)
    assert "<li>One user</li>" in page


def test_a_support_url_is_linked_as_it_is(auth, client, draft):
    publish(draft, support="https://rich.example.test/help")
    auth.logout()
    assert '<a rel="help" href="https://rich.example.test/help">' in client.get("/apps/rich-app").get_data(as_text=True)


def test_after_approval_every_new_field_changes_only_through_a_revision(auth, client, draft):
    factories.user(email=ADMIN_EMAIL, is_platform_admin=True)
    upload(auth, png())
    publish(draft)
    before = App.get_by_id(draft.id)
    assert auth.post("/developer/apps/rich-app/edit", {
        "name": "Rich App", "support": "https://phish.example.test/help", "website_url": "https://phish.example.test/",
        "privacy_url": "https://phish.example.test/privacy"}).status_code == 303
    assert upload(auth, jpeg()).status_code == 303
    assert auth.post(f"/developer/apps/rich-app/screenshots/{before.screenshots}/remove").status_code == 303
    assert auth.post("/developer/apps/rich-app/plans", {"name": "Pro", "price_kr": "99",
                                                        "description": "Free lunch"}).status_code == 303
    after = App.get_by_id(draft.id)
    assert (after.support, after.website_url, after.privacy_url, after.screenshots) == (
        before.support, before.website_url, before.privacy_url, before.screenshots)
    revision = ListingRevision.get(ListingRevision.app == draft.id, ListingRevision.status == "pending")
    assert {"support", "website_url", "privacy_url", "screenshots", "plans"} <= set(__import__("json").loads(
        revision.fields))
    public = client.get("/apps/rich-app").get_data(as_text=True)
    assert "phish" not in public and "Free lunch" not in public

    # The developer's preview is the store's page with the pending values.
    preview = client.get("/developer/apps/rich-app/preview")
    assert preview.status_code == 200 and preview.headers["Cache-Control"] == "no-store"
    preview = preview.get_data(as_text=True)
    assert '<a rel="help" href="https://phish.example.test/help">' in preview
    assert '<a rel="privacy-policy" href="https://phish.example.test/privacy">' in preview
    assert "<li>Free lunch</li>" in preview and "data-preview" in preview
    assert len(re.findall(r"<img [^>]*data-screenshot", preview)) == 1 and before.screenshots not in preview
    auth.logout()
    assert client.get("/developer/apps/rich-app/preview").status_code in (302, 303)

    # The admin reviews that same page, linked from the queue.
    auth.login(ADMIN_EMAIL)
    queue = client.get("/admin/review").get_data(as_text=True)
    assert 'href="/admin/review/rich-app/preview"' in queue
    reviewed = client.get("/admin/review/rich-app/preview").get_data(as_text=True)
    strip = re.compile(r'<input type="hidden" name="csrf_token" value="[^"]*">|<header.*?</header>|'
                       r'<nav.*?</nav>', re.S)
    assert strip.sub("", reviewed[reviewed.index('<article class="app-page"'):reviewed.index("</article>")]) == \
        strip.sub("", preview[preview.index('<article class="app-page"'):preview.index("</article>")])
    assert auth.post("/admin/review/rich-app/approve").status_code == 303
    auth.logout()
    live = client.get("/apps/rich-app").get_data(as_text=True)
    assert '<a rel="help" href="https://phish.example.test/help">' in live and "<li>Free lunch</li>" in live
    assert len(App.get_by_id(draft.id).screenshots.split()) == 1 and App.get_by_id(draft.id).screenshots in preview


def test_previews_are_the_developers_own_and_the_admins(auth, client, draft):
    other = factories.developer_user(email="other@vendor.test", developer_obj=factories.developer())
    assert other.developer_id != Developer.get(Developer.name == "Vendor AB").id
    assert client.get("/developer/apps/rich-app/preview").status_code == 200
    auth.logout()
    auth.login("other@vendor.test")
    assert client.get("/developer/apps/rich-app/preview").status_code == 404
    assert client.get("/admin/review/rich-app/preview").status_code == 403
    factories.customer_admin(email="anna@customer.test")
    auth.logout()
    auth.login("anna@customer.test")
    assert client.get("/developer/apps/rich-app/preview").status_code == 403


def test_the_eligibility_box_is_on_the_developers_page_only(auth, client, draft):
    publish(draft)
    page = client.get("/developer/apps/rich-app").get_data(as_text=True)
    assert 'id="eligibility-heading"' in page and "0 of 10 active customers" in page
    auth.logout()
    assert 'id="eligibility-heading"' not in client.get("/apps/rich-app").get_data(as_text=True)
