"""API health per app and day (issue U item 3): calls, 4xx, 5xx, 429 answers, failed token
refreshes, token errors, the p95 latency and the companies that hit the rate limit most.

Counting costs a dictionary update: each worker keeps its counts in memory (`Counters`) and adds
them to the database at most every FLUSH_SECONDS (on the next call after that), when the worker
stops (atexit, and gunicorn's worker_exit) and on `flask --app app api-health-flush`. The adding
is one UPDATE col = col + n per row, so workers flushing at once never lose a count.

With several app servers (RATELIMIT_STORAGE_URI a redis:// URI) the workers add their counts to
Redis instead (one pipeline of HINCRBY per app and day, keys expiring after REDIS_TTL_SECONDS),
and each flush then moves what Redis holds into the same database rows: an atomic read-and-delete
in Redis, so two servers flushing at once never write a count twice, and what the database
refused is added back to Redis for the next flush.

Latency is kept as a histogram (BUCKETS_MS, upper bounds): the p95 is the bound of the bucket
that holds the 95th percentile, the same whichever worker counted which call.

A day is a UTC date. A jump is a day with at least JUMP_MIN_CALLS calls whose 4xx + 5xx share is
at least JUMP_ERROR_POINTS percentage points above the app's mean of the 7 days before, or whose
429s are at least JUMP_429_FACTOR times that mean; the developer gets one mail per app and day.
"""
import atexit
import datetime
import logging
import threading
import time
import weakref

import redis
from babel.numbers import format_decimal
from peewee import fn

from market.accounts.auth import language_of
from market.core import words
from market.core.clock import format_day
from market.outbound import mail
from models import (
    ApiHealthDay,
    ApiHealthLatency,
    ApiHealthThrottle,
    App,
    Company,
    IntegrityError,
    User,
    db,
    utcnow,
)

log = logging.getLogger(__name__)

FLUSH_SECONDS = 10
BUCKETS_MS = (5, 10, 25, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000, 30000)
OVERFLOW_MS = 60000
COUNTS = ("calls", "client_errors", "server_errors", "throttled", "refresh_failed", "token_errors")
JUMP_MIN_CALLS = 100
JUMP_ERROR_POINTS = 5
JUMP_429_FACTOR = 3
MEAN_DAYS = 7
TOP_COMPANIES = 5
SHOWN_DAYS = 14
REDIS_PREFIX = "market:api-health:"  # API_HEALTH_REDIS_PREFIX overrides it (tests: one per test)
REDIS_TTL_SECONDS = 8 * 86400  # counts not flushed within a week are not worth showing any more


def bucket_of(latency_ms):
    for bound in BUCKETS_MS:
        if latency_ms <= bound:
            return bound
    return OVERFLOW_MS


class Counters:
    """One worker's counts since its last flush. Thread-safe; flushing swaps the dictionaries
    under the lock and writes outside it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.flush_lock = threading.Lock()
        self.config = None  # set by the first flush: the flush when the process stops needs it
        self._reset()
        self.last_flush = time.monotonic()

    def _reset(self):
        self.days = {}  # (app_id, day) -> {count name: n}
        self.latency = {}  # (app_id, day, bucket) -> n
        self.throttles = {}  # (app_id, day, company_id) -> n

    def _day(self, app_id, day):
        counts = self.days.get((app_id, day))
        if counts is None:
            counts = self.days[(app_id, day)] = dict.fromkeys(COUNTS, 0)
        return counts

    def call(self, app_id, status, latency_ms, company_id=None, token_error=False, now=None):
        """One answered API call of the app."""
        day = (now or utcnow()).date()
        with self.lock:
            counts = self._day(app_id, day)
            counts["calls"] += 1
            if 400 <= status < 500:
                counts["client_errors"] += 1
            elif status >= 500:
                counts["server_errors"] += 1
            if status == 429:
                counts["throttled"] += 1
                if company_id is not None:
                    key = (app_id, day, company_id)
                    self.throttles[key] = self.throttles.get(key, 0) + 1
            if token_error:
                counts["token_errors"] += 1
            key = (app_id, day, bucket_of(latency_ms))
            self.latency[key] = self.latency.get(key, 0) + 1

    def refresh_failed(self, app_id, now=None):
        day = (now or utcnow()).date()
        with self.lock:
            self._day(app_id, day)["refresh_failed"] += 1

    def due(self):
        return time.monotonic() - self.last_flush >= FLUSH_SECONDS

    def _take(self):
        with self.lock:
            taken = self.days, self.latency, self.throttles
            self._reset()
            self.last_flush = time.monotonic()
        return taken

    def _put_back(self, days, latency, throttles):
        with self.lock:
            for key, counts in days.items():
                mine = self._day(*key)
                for name, value in counts.items():
                    mine[name] += value
            for store, mine in ((latency, self.latency), (throttles, self.throttles)):
                for key, value in store.items():
                    mine[key] = mine.get(key, 0) + value

    def flush(self, config=None):
        """Add the counts to Redis (when the config names one) or else the database; on failure
        they are put back for the next flush. Returns the number of calls handed on."""
        if config is not None:
            self.config = config  # for the flush when the process stops
        shared = redis_of(self.config)
        with self.flush_lock:
            days, latency, throttles = self._take()
            if not (days or latency or throttles):
                return 0
            try:
                if shared is not None:
                    _push(shared, redis_prefix(self.config), days, latency, throttles)
                else:
                    _write(days, latency, throttles)
            except Exception:
                log.exception("API health counts could not be written; kept for the next flush")
                self._put_back(days, latency, throttles)
                raise
            return sum(c["calls"] for c in days.values())


# ---------------------------------------------------------------------------------- Redis
_CLIENTS = {}


def redis_of(config):
    """The Redis client of RATELIMIT_STORAGE_URI when it is a redis:// URI, else None."""
    uri = (config or {}).get("RATELIMIT_STORAGE_URI") or ""
    if not uri.startswith(("redis://", "rediss://")):
        return None
    client = _CLIENTS.get(uri)
    if client is None:
        client = _CLIENTS[uri] = redis.Redis.from_url(uri, socket_timeout=2, socket_connect_timeout=2)
    return client


def redis_prefix(config):
    return (config or {}).get("API_HEALTH_REDIS_PREFIX") or REDIS_PREFIX


# One hash per app and day ("<prefix>day:<app_id>:<YYYY-MM-DD>"), fields: the COUNTS, "lat:<bucket>"
# and "thr:<company_id>"; "<prefix>keys" is the set of hashes holding counts not yet flushed.
def _push(client, prefix, days, latency, throttles):
    fields = {}
    for (app_id, day), counts in days.items():
        fields.setdefault((app_id, day), {}).update({name: n for name, n in counts.items() if n})
    for (app_id, day, bucket), n in latency.items():
        fields.setdefault((app_id, day), {})[f"lat:{bucket}"] = n
    for (app_id, day, company_id), n in throttles.items():
        fields.setdefault((app_id, day), {})[f"thr:{company_id}"] = n
    pipe = client.pipeline(transaction=True)
    index = prefix + "keys"
    for (app_id, day), increments in fields.items():
        key = f"{prefix}day:{app_id}:{day.isoformat()}"
        for field, n in increments.items():
            pipe.hincrby(key, field, n)
        pipe.expire(key, REDIS_TTL_SECONDS)
        pipe.sadd(index, key)
    pipe.expire(index, REDIS_TTL_SECONDS)
    pipe.execute()


# Read and delete every listed hash in one step: a worker adding meanwhile adds to a new hash.
_TAKE_ALL = """
local out = {}
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  redis.call('SREM', KEYS[1], key)
  local counts = redis.call('HGETALL', key)
  redis.call('DEL', key)
  if #counts > 0 then
    table.insert(out, key)
    table.insert(out, counts)
  end
end
return out
"""


def _take_from_redis(client, prefix):
    """(days, latency, throttles) as the Counters hold them, taken out of Redis."""
    reply = client.eval(_TAKE_ALL, 1, prefix + "keys")
    days, latency, throttles = {}, {}, {}
    for key, flat in zip(reply[::2], reply[1::2], strict=True):
        app_part, day_part = key.decode()[len(prefix) + len("day:"):].split(":")
        app_id, day = int(app_part), datetime.date.fromisoformat(day_part)
        for field, value in zip(flat[::2], flat[1::2], strict=True):
            field, value = field.decode(), int(value)
            if field.startswith("lat:"):
                latency[(app_id, day, int(field[4:]))] = value
            elif field.startswith("thr:"):
                throttles[(app_id, day, int(field[4:]))] = value
            elif field in COUNTS:
                days.setdefault((app_id, day), dict.fromkeys(COUNTS, 0))[field] = value
        days.setdefault((app_id, day), dict.fromkeys(COUNTS, 0))
    return days, latency, throttles


def flush_redis(config):
    """Move the counts Redis holds (of every server) into the database. Returns the calls written."""
    client = redis_of(config)
    if client is None:
        return 0
    prefix = redis_prefix(config)
    days, latency, throttles = _take_from_redis(client, prefix)
    if not (days or latency or throttles):
        return 0
    try:
        _write(days, latency, throttles)
    except Exception:
        log.exception("API health counts from Redis could not be written; added back to Redis")
        _push(client, prefix, days, latency, throttles)
        raise
    return sum(c["calls"] for c in days.values())


def _add(model, key_fields, key, increments):
    """model row at key += increments, made when missing (a race to make it is retried as an add)."""
    where = [getattr(model, name) == value for name, value in zip(key_fields, key, strict=True)]
    updates = {getattr(model, name): getattr(model, name) + value for name, value in increments.items()}
    if model is ApiHealthDay:
        updates[ApiHealthDay.updated_at] = utcnow()
    if model.update(updates).where(*where).execute():
        return
    try:
        with db.atomic():
            model.create(**dict(zip(key_fields, key, strict=True)), **increments)
    except IntegrityError:
        model.update(updates).where(*where).execute()


def _write(days, latency, throttles):
    """Add the counts (of apps and companies that still exist) in one transaction."""
    existing = {row.id for row in App.select(App.id).where(App.id.in_({key[0] for key in days} |
                                                                      {key[0] for key in latency}))}
    companies = {row.id for row in Company.select(Company.id).where(Company.id.in_({key[2] for key in throttles}))}
    throttles = {key: n for key, n in throttles.items() if key[2] in companies}
    with db.atomic():
        for (app_id, day), counts in days.items():
            if app_id in existing:
                _add(ApiHealthDay, ("app", "day"), (app_id, day), counts)
        for (app_id, day, bucket), n in latency.items():
            if app_id in existing:
                _add(ApiHealthLatency, ("app", "day", "bucket_ms"), (app_id, day, bucket), {"calls": n})
        for (app_id, day, company_id), n in throttles.items():
            if app_id in existing:
                _add(ApiHealthThrottle, ("app", "day", "company"), (app_id, day, company_id), {"throttled": n})


_LIVE = weakref.WeakSet()  # every app's counters, flushed when the process stops


def new_counters():
    """The counters of one app (views/api.init_app keeps them in app.extensions)."""
    counters = Counters()
    _LIVE.add(counters)
    return counters


def flush_if_due(config, counters):
    """After a call: flush when the last flush is FLUSH_SECONDS old. Never fails the call: a
    database that cannot take the counts now gets them at the next flush."""
    if not counters.due():
        return
    try:
        flush(config, counters)
    except Exception:
        log.exception("API health flush failed; the counts wait for the next one")


def flush(config, counters):
    """Write the counts and mail the developers of apps whose day jumped. With Redis: this
    worker's counts go to Redis, and then all that Redis holds (every server's) to the database."""
    written = counters.flush(config)
    if redis_of(config) is not None:
        written = flush_redis(config)
    if written:
        mail_jumps(config, utcnow().date())
    return written


def flush_all():
    """When the worker stops (atexit, gunicorn's worker_exit): every app's counts of this process."""
    for counters in list(_LIVE):
        try:
            with db.connection_context():
                counters.flush()
                flush_redis(counters.config)  # the database rows need not wait for another server
        except Exception:  # the process is stopping; the log says what was lost
            log.exception("API health counts lost at exit")


atexit.register(flush_all)


# ---------------------------------------------------------------------------------- reading
def p95(histogram):
    """The p95 latency (ms) of {bucket: calls}: the bound of the bucket holding the 95th percentile."""
    total = sum(histogram.values())
    if not total:
        return None
    needed, seen = -(-95 * total // 100), 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= needed:
            return bucket
    return max(histogram)


def developer_health(developer, today, app=None, days=SHOWN_DAYS, limit=TOP_COMPANIES):
    """Per app of the developer (or only `app`): its last `days` days, newest first, each with
    its counts and p95 (days without calls at zero), and the companies most often refused with
    429. Four queries whatever the number of apps."""
    first = today - datetime.timedelta(days=days - 1)
    apps = App.select(App.id, App.slug, App.name).where(App.developer == developer).order_by(App.name, App.id)
    own = App.select(App.id).where(App.developer == developer)
    if app is not None:
        apps, own = apps.where(App.id == app), own.where(App.id == app)
    rows = {(row.app_id, row.day): row for row in
            ApiHealthDay.select().where(ApiHealthDay.app.in_(own), ApiHealthDay.day >= first)}
    histograms = {}
    for row in ApiHealthLatency.select().where(ApiHealthLatency.app.in_(own), ApiHealthLatency.day >= first):
        histograms.setdefault((row.app_id, row.day), {})[row.bucket_ms] = row.calls
    throttled = {}
    query = (ApiHealthThrottle.select(ApiHealthThrottle.app, Company.name.alias("company_name"),
                                      fn.SUM(ApiHealthThrottle.throttled).alias("refused"))
             .join(Company).where(ApiHealthThrottle.app.in_(own), ApiHealthThrottle.day >= first)
             .group_by(ApiHealthThrottle.app, Company.id, Company.name))
    for row in query.objects():
        throttled.setdefault(row.app_id, []).append({"company": row.company_name, "throttled": int(row.refused)})
    shown = []
    for listing in apps:
        listed = []
        for offset in range(days):
            day = today - datetime.timedelta(days=offset)
            row = rows.get((listing.id, day))
            counts = {name: getattr(row, name) if row else 0 for name in COUNTS}
            listed.append({"day": day, **counts, "p95_ms": p95(histograms.get((listing.id, day), {}))})
        top = sorted(throttled.get(listing.id, []), key=lambda r: (-r["throttled"], r["company"]))[:limit]
        oldest_first = list(reversed(listed))
        chart = {"labels": [d["day"].strftime("%m-%d") for d in oldest_first],
                 "calls": [d["calls"] for d in oldest_first],
                 "errors": [d["client_errors"] + d["server_errors"] for d in oldest_first]}
        shown.append({"app": listing, "days": listed, "top_throttled": top, "chart": chart})
    return shown


def as_of():
    """When the counts were last added to the database (None before the first flush)."""
    value = ApiHealthDay.select(fn.MAX(ApiHealthDay.updated_at)).scalar()
    if isinstance(value, str):  # SQLite hands aggregates of timestamps back as text
        value = datetime.datetime.fromisoformat(value)
    return value


# ---------------------------------------------------------------------------------- jumps
def jump(day_row, before, locale=words.DEFAULT):
    """Is the day (counts) a jump against the days before it (a list of counts)? Returns the
    reason (in `locale`, for the developer's mail), or None."""
    if day_row["calls"] < JUMP_MIN_CALLS:
        return None
    shares = [100 * (d["client_errors"] + d["server_errors"]) / d["calls"] for d in before if d["calls"]]
    mean_share = sum(shares) / len(shares) if shares else 0
    share = 100 * (day_row["client_errors"] + day_row["server_errors"]) / day_row["calls"]
    if share >= mean_share + JUMP_ERROR_POINTS:
        return words.say(locale, "%(share)s %% of the calls failed (4xx and 5xx), against %(mean)s %% over the "
                                 "week before", share=_one_decimal(share, locale), mean=_one_decimal(mean_share, locale))
    mean_429 = sum(d["throttled"] for d in before) / len(before) if before else 0
    if day_row["throttled"] and day_row["throttled"] >= JUMP_429_FACTOR * mean_429:
        return words.say(locale, "%(calls)s calls were refused with 429, against %(mean)s a day over the week "
                                 "before", calls=day_row["throttled"], mean=_one_decimal(mean_429, locale))
    return None


def _one_decimal(number, locale):
    return format_decimal(round(number, 1), "0.0", locale=words.supported(locale) or words.DEFAULT)


def mail_jumps(config, today):
    """Mail the developer of each app whose day jumped, once per app and day."""
    sent = 0
    for row in ApiHealthDay.select().where(ApiHealthDay.day == today, ApiHealthDay.jump_mailed_at.is_null(),
                                           ApiHealthDay.calls >= JUMP_MIN_CALLS):
        before = [{name: getattr(d, name) for name in COUNTS} for d in ApiHealthDay.select().where(
            ApiHealthDay.app == row.app_id, ApiHealthDay.day >= today - datetime.timedelta(days=MEAN_DAYS),
            ApiHealthDay.day < today)]
        before += [dict.fromkeys(COUNTS, 0)] * (MEAN_DAYS - len(before))
        reason = jump({name: getattr(row, name) for name in COUNTS}, before)
        if reason is None:
            continue
        claimed = (ApiHealthDay.update(jump_mailed_at=utcnow())
                   .where(ApiHealthDay.id == row.id, ApiHealthDay.jump_mailed_at.is_null()).execute())
        if not claimed:
            continue  # another worker mails it
        listing = App.get_by_id(row.app_id)
        for user in User.select().where(User.developer == listing.developer_id).order_by(User.id):
            locale = language_of(user)
            subject = words.say(locale, "%(app)s: the API errors jumped today", app=listing.name)
            body = words.say(locale, "Today (%(day)s, UTC) %(app)s made %(calls)s API calls; %(reason)s.\n\n"
                                     "See the API health table on your dashboard for the day's figures.\n",
                             day=format_day(today, locale), app=listing.name, calls=row.calls,
                             reason=jump({name: getattr(row, name) for name in COUNTS}, before, locale))
            try:
                mail.send_mail(config, user.email, subject, body)
                sent += 1
            except mail.MailNotSent:
                continue
            except mail.MailNotConfigured:
                break
    return sent
