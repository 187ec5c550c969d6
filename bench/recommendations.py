"""Offline evaluation of the Recommended ranking (DESIGN.md §7, issue I).

Seeds the deterministic demo data (optionally scaled) into a scratch database, holds out one app
per company that uses at least two, rebuilds co-usage and the figures from the rest only, and
reports hit-rate@5 and @10 of recommendations.rank_for_company against a popularity-only
baseline. Both rank every published app the company does not have in the training data.

    .venv/bin/python bench/recommendations.py [--scale N] [--seed S] [--database URL]
"""
import argparse
import os
import random
import sys
import tempfile
from collections import Counter, defaultdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from market.recommendations import ranking as rec  # noqa: E402
from market.reviews import ratings  # noqa: E402
from models import App, Company, Connection, Review, Subscription  # noqa: E402


def load_usage():
    """Plain data from the database: who uses what, companies' industry and size, reviews."""
    usage = defaultdict(set)
    for company_id, app_id in Connection.select(Connection.company, Connection.app).where(
            Connection.revoked_at.is_null()).tuples():
        usage[company_id].add(app_id)
    for company_id, app_id in Subscription.select(Subscription.company, Subscription.app).where(
            Subscription.status.in_(Subscription.LIVE_STATUSES)).tuples():
        usage[company_id].add(app_id)
    companies = {cid: (industry, size) for cid, industry, size in
                 Company.select(Company.id, Company.industry, Company.size).tuples()}
    reviews = {(cid, aid): stars for cid, aid, stars in
               Review.select(Review.company, Review.app, Review.stars).tuples()}
    apps = [aid for (aid,) in App.select(App.id).where(App.status == "published").tuples()]
    return dict(usage), companies, reviews, apps


def split(usage, seed):
    """Hold out one app per company that uses at least two."""
    rnd = random.Random(seed)
    training, held_out = {}, {}
    for company_id in sorted(usage):
        apps = sorted(usage[company_id])
        if len(apps) >= 2:
            kept = rnd.choice(apps)
            held_out[company_id] = kept
            training[company_id] = set(apps) - {kept}
        else:
            training[company_id] = set(apps)
    return training, held_out


def evaluate(usage, companies, reviews, apps, seed=1, weights=None):
    training, held_out = split(usage, seed)
    users = Counter(a for owned in training.values() for a in owned)
    top = rec.top_neighbours(training)
    by_industry = defaultdict(Counter)
    by_segment = defaultdict(Counter)
    industry_size = Counter()
    segment_size = Counter()
    for company_id, owned in training.items():
        industry, size = companies[company_id]
        industry_size[industry] += 1
        segment_size[(industry, size)] += 1
        for a in owned:
            by_industry[industry][a] += 1
            by_segment[(industry, size)][a] += 1
    # Ratings from the training pairs only: a held-out company's review of its app is unknown.
    known = defaultdict(list)
    for (company_id, app_id), stars in reviews.items():
        if held_out.get(company_id) != app_id:
            known[app_id].append(stars)
    totals = {a: ratings.rating_totals(known[a]) for a in apps}
    figures = [rec.AppFigures(a, users[a], totals[a].sum, totals[a].count) for a in apps]
    popularity = sorted(apps, key=lambda a: (-users[a], a))
    hits = {"ranking": Counter(), "popularity": Counter()}
    for company_id, target in held_out.items():
        owned = frozenset(training[company_id])
        industry, size = companies[company_id]
        profile = rec.CompanyProfile(
            owned=owned, industry=industry, industry_companies=industry_size[industry],
            segment_companies=segment_size[(industry, size)], neighbours=rec.neighbours_for(owned, top),
            users=users, industry_users=by_industry[industry], segment_users=by_segment[(industry, size)])
        ranked = [r.app_id for r in rec.rank_for_company(figures, profile, weights=weights, limit=10)]
        baseline = [a for a in popularity if a not in owned][:10]
        for k in (5, 10):
            hits["ranking"][k] += target in ranked[:k]
            hits["popularity"][k] += target in baseline[:k]
    n = len(held_out)
    return n, {name: {k: counter[k] / n for k in (5, 10)} for name, counter in hits.items()}


def seeded_database(url, scale):
    from app import create_app
    from market.data import database
    from market.jobs import seed
    from models import db

    app = create_app({"MARKET_ENV": "demo", "DATABASE_URL": url})
    with db.connection_context():
        database.migrate(db)
        seed.seed_demo(app.config, scale=scale, echo=lambda *_: None)
    return app


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=None, help="seed N times the demo's companies")
    parser.add_argument("--seed", type=int, default=1, help="which app is held out per company")
    parser.add_argument("--database", default=None,
                        help="an already seeded DATABASE_URL (default: a scratch SQLite file)")
    args = parser.parse_args(argv)
    from models import db

    if args.database:
        from app import create_app

        create_app({"MARKET_ENV": "demo", "DATABASE_URL": args.database})
    else:
        scratch = tempfile.mkdtemp(prefix="market-bench-")
        seeded_database(f"sqlite:///{scratch}/bench.db", args.scale)
    with db.connection_context():
        usage, companies, reviews, apps = load_usage()
    n, result = evaluate(usage, companies, reviews, apps, seed=args.seed)
    print(f"companies evaluated: {n} (one held-out app each), apps ranked: {len(apps)}")
    print(f"{'':12} {'hit-rate@5':>11} {'hit-rate@10':>12}")
    for name in ("ranking", "popularity"):
        print(f"{name:12} {result[name][5]:>11.3f} {result[name][10]:>12.3f}")
    for k in (5, 10):
        base = result["popularity"][k]
        lift = (result["ranking"][k] / base - 1) * 100 if base else float("inf")
        print(f"ranking beats popularity at @{k} by {result['ranking'][k] - base:+.3f} ({lift:+.0f} %)")
    return 0 if all(result["ranking"][k] > result["popularity"][k] for k in (5, 10)) else 1


if __name__ == "__main__":
    sys.exit(main())
