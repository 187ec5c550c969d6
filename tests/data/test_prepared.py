"""prepared.py: a query's SQL built once and replayed with new values gives what peewee gives."""
import pytest
from peewee import JOIN

from market.core import credentials
from market.data import prepared
from models import Company, Connection, OAuthToken, User, db
from tests import factories


def _user_with_company(user_id):
    return User.select(User, Company).join(Company, JOIN.LEFT_OUTER).where(User.id == user_id).limit(1)


def test_replays_with_each_call_s_values_and_joined_rows(app):
    with app.app_context(), db.connection_context():
        first = factories.customer_admin()
        second = factories.customer_admin()
        developer = factories.developer_user()
        for user in (first, second, developer, first):
            row = prepared.first("test-user", _user_with_company, user.id)
            assert (row.id, row.email, row.company_id) == (user.id, user.email, user.company_id)
            if user.company_id is None:
                assert row.company is None
            else:
                # Hydrated from the same query: reading it runs no further statement.
                assert row.__rel__["company"].name == Company.get_by_id(user.company_id).name
        assert prepared.first("test-user", _user_with_company, 10**9) is None


def test_string_values_and_several_rows(app):
    with app.app_context(), db.connection_context():
        company = factories.company()
        listing = factories.app_listing()
        connection = factories.api_connection(company, listing)
        tokens = [factories.issue_token(connection) for _ in range(3)]

        def by_hash(value):
            return OAuthToken.select(OAuthToken, Connection).join(Connection).where(
                OAuthToken.access_token_hash == value)

        for token in tokens:
            row = OAuthToken.get(OAuthToken.access_token_hash == credentials.token_hash(token))
            found = prepared.select("test-token", by_hash, row.access_token_hash)
            assert [r.id for r in found] == [row.id]
            assert found[0].connection.company_id == company.id
        assert prepared.select("test-token", by_hash, "no-such-hash") == []


def test_refuses_values_that_would_change_the_sql(app):
    with app.app_context(), db.connection_context():
        with pytest.raises(TypeError):
            prepared.select("test-none", lambda v: User.select().where(User.id == v), None)
        with pytest.raises(ValueError):
            # The argument is transformed before it reaches the SQL: not replayable.
            prepared.select("test-transformed", lambda v: User.select().where(User.email == v + "x"), "a")


def test_writes_replay_with_each_call_s_values_and_count_changed_rows(app):
    import datetime

    with app.app_context(), db.connection_context():
        users = [factories.customer_admin() for _ in range(2)]
        when = [datetime.datetime(2026, 1, 2, 3, 4, 5), datetime.datetime(2026, 6, 7, 8, 9, 10)]

        def rename(name, at, user_id):
            return User.update(name=name, created_at=at).where(User.id == user_id, User.name != name)

        for user, name, at in zip(users, ("Anna", "Bo"), when, strict=True):
            assert prepared.execute("test-rename", rename, name, at, user.id) == 1
        assert prepared.execute("test-rename", rename, "Bo", when[0], users[1].id) == 0  # already Bo
        rows = {u.id: (u.name, u.created_at) for u in User.select()}
        assert rows[users[0].id] == ("Anna", when[0]) and rows[users[1].id] == ("Bo", when[1])


def test_lists_replay_once_per_length_and_long_lists_are_built_anew(app, monkeypatch):
    with app.app_context(), db.connection_context():
        users = [factories.customer_admin() for _ in range(4)]
        ids = [u.id for u in users]

        def of(company_id, user_ids):
            return User.select().where(User.company != company_id, User.id.in_(user_ids)).order_by(User.id)

        for chosen in (ids[:2], ids[2:], ids[1:3], ids, [], [10**9]):
            found = prepared.select_listed("test-listed", of, (0,), chosen)
            assert [u.id for u in found] == sorted(chosen if chosen != [10**9] else [])
        cache = db.obj.__dict__["_market_prepared"]
        assert {key for key in cache if key.startswith("test-listed/")} == {
            "test-listed/0", "test-listed/1", "test-listed/2", "test-listed/4"}
        monkeypatch.setattr(prepared, "MOST_LISTED", 3)
        assert [u.id for u in prepared.select_listed("test-long", of, (0,), ids)] == ids
        assert not any(key.startswith("test-long") for key in cache)


def _same_instance(ours, peewees, seen=None):
    """The same model, __data__, clean _dirty and joined instances in __rel__, all the way down."""
    assert type(ours) is type(peewees)
    if ours is None:
        return
    assert ours.__data__ == peewees.__data__
    assert ours._dirty == peewees._dirty == set()
    assert ours.__rel__.keys() == peewees.__rel__.keys()
    for name, joined in ours.__rel__.items():
        _same_instance(joined, peewees.__rel__[name])


def test_joined_rows_are_built_as_peewee_builds_them(app):
    """prepared.py builds joined rows itself (its _plan); every shape the market uses, inner and
    outer joins, a missing outer row, three levels deep, gives what peewee's own wrapper gives."""
    from models import App, OAuthClient

    with app.app_context(), db.connection_context():
        company = factories.company()
        listing = factories.app_listing()
        connection = factories.api_connection(company, listing)
        token = factories.issue_token(connection)
        with_company, without = factories.customer_admin(), factories.developer_user()

        def five(value):
            return (OAuthToken.select(OAuthToken, Connection, Company, App, OAuthClient)
                    .join(Connection).join(Company).switch(Connection).join(App)
                    .switch(OAuthToken).join(OAuthClient).where(OAuthToken.access_token_hash == value).limit(1))

        shapes = [("test-five", five, credentials.token_hash(token)),
                  ("test-outer", _user_with_company, with_company.id),
                  ("test-outer", _user_with_company, without.id)]
        for key, build, value in shapes:
            prepared.select(key, build, value)  # the first call learns the layout
            entry = db.obj.__dict__["_market_prepared"][key]
            assert entry[4] is not None, f"{key}: built by peewee, not by the plan"
            ours, peewees = prepared.select(key, build, value), list(build(value))
            assert len(ours) == len(peewees) == 1
            _same_instance(ours[0], peewees[0])
        found = prepared.first("test-outer", _user_with_company, without.id)
        assert found.__rel__ == {"company": None} and found.company is None
        # Reading the joined rows runs no further statement.
        row = prepared.first("test-five", five, credentials.token_hash(token))
        assert (row.connection.company.public_id, row.connection.app.slug, row.client.app_id) == (
            company.public_id, listing.slug, listing.id)


def test_the_peewee_version_the_plan_was_checked_against():
    """_plan reads peewee's cursor-wrapper internals: a peewee upgrade must be checked against
    the test above and added to PEEWEE_CHECKED (until then peewee builds every row itself)."""
    import peewee

    assert peewee.__version__ in prepared.PEEWEE_CHECKED
