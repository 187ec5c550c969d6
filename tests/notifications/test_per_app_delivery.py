"""Issue O findings 11 (notification half) and 13: one slow app endpoint held up every other
app's notifications and the demo's sweep (they were sent one after another), and every row of a
batch got the batch's start time as its delivered_at. Now each app with due events gets its own
turn on a bounded pool of senders, claiming a batch of its own rows at once, and each row's
delivered_at is when that row was delivered."""
import datetime
import json
import threading
import time

from market.jobs import sweep
from market.notifications import outbox
from models import AppNotification, db, utcnow
from tests import factories
from tests.outbound.receivers import Receiver


def listening_app(app, receiver):
    listing = factories.app_listing(webhook_url=receiver.url)
    factories.oauth_client(listing)
    origins = [o for o in (app.config.get("OUTBOUND_ALLOWED_ORIGINS") or "").split(",") if o]
    app.config["OUTBOUND_ALLOWED_ORIGINS"] = ",".join([*origins, receiver.origin])
    return listing


def queue(listing, count, now=None):
    company = factories.company()
    return [outbox.connection_revoked(company, listing, now) for _ in range(count)]


def rows_of(listing):
    return list(AppNotification.select().where(AppNotification.app == listing).order_by(AppNotification.id))


def test_a_slow_app_does_not_delay_another_apps_delivery(app, receiver, other_receiver):
    slow = listening_app(app, receiver)
    fast = listening_app(app, other_receiver)
    receiver.delay = 1.0
    earlier = utcnow() - datetime.timedelta(minutes=5)
    queue(slow, 3, earlier)  # the slow app's events are older: one after another, they went first
    queue(fast, 2)
    started = time.monotonic()
    assert outbox.deliver_due(app.config) == {"delivered": 5, "failed": 0}
    elapsed = time.monotonic() - started
    assert elapsed >= 3.0  # the slow app took its time...
    fast_arrivals = [arrived - started for *_, arrived in other_receiver.received]
    assert len(fast_arrivals) == 2 and max(fast_arrivals) < 0.9  # ...and the other app did not wait for it
    assert max(r.delivered_at for r in rows_of(fast)) < min(r.delivered_at for r in rows_of(slow)[1:])


def test_each_row_records_when_it_was_delivered(app, receiver):
    listing = listening_app(app, receiver)
    receiver.delay = 0.4
    queue(listing, 3)
    before = utcnow()
    assert outbox.deliver_due(app.config) == {"delivered": 3, "failed": 0}
    after = utcnow()
    moments = [r.delivered_at for r in rows_of(listing)]
    assert all(before <= m <= after for m in moments)
    # One after another for one app, in order, each at its own time.
    assert all(b - a >= datetime.timedelta(seconds=0.35) for a, b in zip(moments, moments[1:], strict=False))
    assert [json.loads(body)["id"] for _, body, _, _ in receiver.received] == [r.event_id for r in rows_of(listing)]


def test_moved_time_keeps_each_rows_own_moment(app, receiver):
    """The sweep passes `now` (tests move it): delivered_at is that moment plus the real time
    each row took, not the same value for the whole batch."""
    listing = listening_app(app, receiver)
    receiver.delay = 0.3
    queue(listing, 2)
    future = utcnow() + datetime.timedelta(days=3)
    assert outbox.deliver_due(app.config, future) == {"delivered": 2, "failed": 0}
    first, second = (r.delivered_at for r in rows_of(listing))
    assert future <= first < second < future + datetime.timedelta(seconds=5)
    assert second - first >= datetime.timedelta(seconds=0.25)


def test_the_sweep_is_not_held_up_by_an_app_that_never_answers(app, receiver, other_receiver):
    hanging = listening_app(app, receiver)
    fine = listening_app(app, other_receiver)
    receiver.delay = 30  # never answers in time
    queue(hanging, 4)
    queue(fine, 1)
    started = time.monotonic()
    summary = sweep.run(app.config)
    elapsed = time.monotonic() - started
    # One capped attempt for the hanging app (the rest of its batch waits for the next round),
    # while the other app was served at once.
    assert elapsed < outbox.TOTAL_TIMEOUT + 5  # the sweep's other steps too, on a busy machine; far below 30 s
    assert (summary["notifications_delivered"], summary["notifications_failed"]) == (1, 1)
    # ...served before the hanging app's capped attempt could have ended: it never waited for it.
    assert other_receiver.received and other_receiver.received[0][3] - started < outbox.TOTAL_TIMEOUT
    hanging_rows = rows_of(hanging)
    assert [r.attempts for r in hanging_rows] == [1, 0, 0, 0]
    assert "TimedOut" in hanging_rows[0].last_error
    # Given back untouched, due again now (not held by a lease): the next round sends them.
    assert all(r.next_attempt_at <= utcnow() for r in hanging_rows[1:])


def test_more_apps_than_senders_are_all_served(app):
    receivers = [Receiver() for _ in range(outbox.SENDERS + 2)]
    try:
        for r in receivers:
            r.delay = 0.3
            queue(listening_app(app, r), 2)
        started = time.monotonic()
        assert outbox.deliver_due(app.config) == {"delivered": 2 * len(receivers), "failed": 0}
        elapsed = time.monotonic() - started
        assert all(len(r.received) == 2 for r in receivers)
        # In parallel (2 rounds of 0.6 s), bounded by SENDERS (not all 6 at once: more than one round).
        assert 1.0 <= elapsed < 0.6 * len(receivers)
    finally:
        for r in receivers:
            r.stop()


def test_concurrent_senders_never_send_a_row_twice(app, receiver, other_receiver):
    first = listening_app(app, receiver)
    second = listening_app(app, other_receiver)
    receiver.delay = other_receiver.delay = 0.05
    queue(first, 6)
    queue(second, 6)
    barrier = threading.Barrier(4)
    results = []

    def sender():
        with app.app_context(), db.connection_context():
            barrier.wait()
            results.append(outbox.deliver_due(app.config))

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r["delivered"] for r in results) == 12
    for r, listing in ((receiver, first), (other_receiver, second)):
        ids = [json.loads(body)["id"] for _, body, _, _ in r.received]
        assert sorted(ids) == sorted(row.event_id for row in rows_of(listing))  # each once
    assert all(row.attempts == 1 and row.delivered_at for row in AppNotification.select())


def test_a_claim_takes_one_apps_due_rows_only_once(app, receiver, other_receiver):
    mine = listening_app(app, receiver)
    theirs = listening_app(app, other_receiver)
    queue(mine, 3)
    queue(theirs, 2)
    now = utcnow()
    claimed, lease = outbox.claim_batch(mine.id, now)
    assert [r.app_id for r in claimed] == [mine.id] * 3
    again, _ = outbox.claim_batch(mine.id, now)
    assert again == []  # a second sender finds nothing of that app
    assert all(r.next_attempt_at == lease for r in rows_of(mine))
    assert len(outbox.claim_batch(theirs.id, now)[0]) == 2
