"""How billing writes: `write_transaction` takes the write lock at once, `lock_company`
serialises one company's Buys across servers.

Below every billing module that writes (checkout, subscriptions, webhooks, dunning, refunds,
suspension), so that none of them imports another just for its transaction.
"""
from market.data.database import is_postgres
from models import Company, db


def write_transaction():
    """A transaction that takes the write lock at once (BEGIN IMMEDIATE on SQLite, also through
    the proxy since database.py makes atomic() do so), so a transaction that reads first waits
    for other writers instead of failing with "database is locked"."""
    return db.atomic()


def lock_company(company):
    """Serialise Buys of one company across servers (PostgreSQL); SQLite's write transactions
    are BEGIN IMMEDIATE and already exclusive."""
    if is_postgres(db):
        Company.select(Company.id).where(Company.id == company.id).for_update().execute()
