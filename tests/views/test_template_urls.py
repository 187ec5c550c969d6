"""The templates' url_for keeps the paths it built (views/caching.py, issue R): it must give
exactly what Flask's url_for gives, for every kind of value, and never keep what depends on more
than the endpoint and its values."""
from flask import render_template_string, url_for


def test_kept_paths_are_flask_s_paths(app):
    with app.test_request_context("/"):
        cases = [("store.app_page", {"slug": "lonekollen"}), ("store.app_page", {"slug": "åäö kollen"}),
                 ("store.apps", {"q": "lön"}), ("store.apps", {"q": "lön", "page": 2}),
                 ("store.apps", {"page": 1}), ("store.apps", {"page": True}),
                 ("store.apps", {"category": ["a", "b"]}), ("store.home", {})]
        template = "{{ url_for(endpoint, **values) }}"
        for _ in range(2):  # built, then kept
            for endpoint, values in cases:
                assert render_template_string(template, endpoint=endpoint, values=values) == \
                    str(render_template_string("{{ u }}", u=url_for(endpoint, **values))), (endpoint, values)


def test_external_and_anchored_links_follow_the_request(app):
    template = "{{ url_for('store.home', _external=True) }}|{{ url_for('store.home', _anchor=a) }}"
    with app.test_request_context("/", base_url="https://one.example"):
        first = render_template_string(template, a="x")
    with app.test_request_context("/", base_url="https://two.example"):
        second = render_template_string(template, a="y")
    assert first == "https://one.example/|/#x"
    assert second == "https://two.example/|/#y"


def test_a_script_root_is_part_of_the_key(app):
    template = "{{ url_for('store.home') }}"
    with app.test_request_context("/"):
        assert render_template_string(template) == "/"
    with app.test_request_context("/", base_url="http://localhost/market"):
        assert url_for("store.home") == "/market/"
        assert render_template_string(template) == "/market/"
