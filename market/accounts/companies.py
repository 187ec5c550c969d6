"""Companies and the people in them: registration, account changes by single-use links, and
company members. Domain functions take explicit arguments and never read `request`.

Every function that takes form input raises `InvalidInput` with one message per field and
writes nothing in that case.
"""
import datetime
import re

from peewee import fn

from market.accounts import auth as accounts
from market.core import credentials, words
from market.data import database, prepared
from market.outbound.mail import MailNotConfigured, send_mail
from models import AccountToken, Company, Developer, IntegrityError, Membership, User, db, utcnow

INDUSTRIES = {
    "construction": words.marked("Construction"),
    "consulting": words.marked("Consulting"),
    "retail": words.marked("Retail and e-commerce"),
    "restaurant": words.marked("Restaurants and cafés"),
    "manufacturing": words.marked("Manufacturing"),
    "transport": words.marked("Transport and logistics"),
    "healthcare": words.marked("Health and care"),
    "real-estate": words.marked("Real estate"),
    "it": words.marked("IT and software"),
    "accounting": words.marked("Accounting and finance"),
    "other": words.marked("Other"),
}
SIZES = ("1-9", "10-49", "50-249", "250+")
ROLES = ("admin", "member")

PASSWORD_MIN, PASSWORD_MAX = 10, 200
MAX_EMAIL, MAX_NAME = 254, 120

RESET_TTL = datetime.timedelta(hours=1)
CONFIRM_TTL = datetime.timedelta(hours=24)
REGISTRATION_WINDOW = datetime.timedelta(hours=1)
MAX_CONFIRMATIONS_PER_HOUR = 3
EMAIL_CHANGE_TTL = datetime.timedelta(hours=24)
INVITE_TTL = datetime.timedelta(days=7)
MAX_RESETS_PER_HOUR = 3

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ORG_RE = re.compile(r"^(\d{6})-?(\d{4})$")


class InvalidInput(Exception):
    """One message per field: a constant marked for the catalogues (words.marked) or a
    words.Phrase with its values, so the page says it in the reader's language (`said()`).
    `str()` is the English of every message (logs and tests read it)."""

    def __init__(self, errors):
        super().__init__("; ".join(str(message) for message in errors.values()))
        self.errors = errors


class InvalidLink(words.Refusal):
    """The link is unknown, used or expired; the message says what to do instead."""


NOT_COMPANY_ADMIN = words.marked("Only an admin of your company may do this. Ask one of your company's admins.")


class NotCompanyAdmin(Exception):
    def __init__(self, message=NOT_COMPANY_ADMIN):
        super().__init__(message)


class MemberNotFound(Exception):
    pass


class RegistrationLimited(Exception):
    def __init__(self, retry_after):
        super().__init__(words.marked("Too many registrations from your address. Please try again later."))
        self.retry_after = retry_after


def require_company_admin(user):
    """The one check behind "only admins may buy, activate or consent"."""
    user = getattr(user, "user", user)  # a SessionUser or the User row
    if user is None or not getattr(user, "is_company_admin", False):
        raise NotCompanyAdmin()
    return user


# --- input ---------------------------------------------------------------------------------

def _text(value):
    return value.strip() if isinstance(value, str) else ""


def luhn_check_digit(nine_digits):
    """Swedish org numbers: the tenth digit is the Luhn check digit of the first nine."""
    total = 0
    for i, ch in enumerate(nine_digits[:9]):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10


def luhn_valid(digits):
    return luhn_check_digit(digits[:9]) == int(digits[9])


def org_number_from(nine_digits):
    """The valid org number NNNNNN-NNNN that starts with these nine digits (seed and tests)."""
    s = f"{nine_digits}{luhn_check_digit(nine_digits)}"
    return f"{s[:6]}-{s[6:]}"


def normalise_org_number(raw):
    """NNNNNN-NNNN, or ValueError with a message a person can act on."""
    match = _ORG_RE.match(_text(raw))
    if not match:
        raise ValueError(words.marked("Enter the organisation number as NNNNNN-NNNN (10 digits)."))
    digits = match.group(1) + match.group(2)
    if not luhn_valid(digits):
        raise ValueError(words.marked("That organisation number is not valid (its check digit does not match)."))
    return f"{match.group(1)}-{match.group(2)}"


def check_email(raw, errors, field="email"):
    email = accounts.normalise_email(raw if isinstance(raw, str) else "")
    if not email:
        errors[field] = words.marked("Enter an email address.")
    elif len(email) > MAX_EMAIL or not _EMAIL_RE.match(email):
        errors[field] = words.marked("Enter a valid email address.")
    return email


def check_password(raw, errors, field="password"):
    password = raw if isinstance(raw, str) else ""
    if len(password) < PASSWORD_MIN:
        errors[field] = words.Phrase(words.marked("Choose a password of at least %(n)s characters."), n=PASSWORD_MIN)
    elif len(password) > PASSWORD_MAX:
        errors[field] = words.Phrase(words.marked("A password may have at most %(n)s characters."), n=PASSWORD_MAX)
    return password


# A name field's messages, whole sentences: (when it is missing, when it is too long).
_NAME_MESSAGES = {
    "name": (words.marked("Enter your name."), words.marked("Your name may have at most %(n)s characters.")),
    "company_name": (words.marked("Enter the company's name."),
                     words.marked("The company's name may have at most %(n)s characters.")),
    "vendor_name": (words.marked("Enter your company's name."),
                    words.marked("Your company's name may have at most %(n)s characters.")),
}


def _check_name(raw, errors, field, required=True):
    value = _text(raw)
    missing, too_long = _NAME_MESSAGES[field]
    if required and not value:
        errors[field] = missing
    elif len(value) > MAX_NAME:
        errors[field] = words.Phrase(too_long, n=MAX_NAME)
    return value


def _email_taken(email):
    return User.select().where(User.email == email).exists()


# --- registration --------------------------------------------------------------------------

def check_registration_limit(config, address, now=None):
    """REGISTRATION_LIMIT_PER_HOUR registrations per address and hour (issue N), then
    RegistrationLimited with the seconds until the oldest leaves the window."""
    if not address:
        return
    now = now or utcnow()
    recent = list(User.select(User.created_at)
                  .where(User.registered_from == address[:64], User.created_at > now - REGISTRATION_WINDOW)
                  .order_by(User.created_at))
    limit = config.get("REGISTRATION_LIMIT_PER_HOUR", 10)
    if len(recent) >= limit:
        oldest = recent[-limit].created_at
        raise RegistrationLimited(max(1, int((oldest + REGISTRATION_WINDOW - now).total_seconds()) + 1))


def register_customer(*, email, password, name, company_name, org_number, industry, size, address=None):
    """A customer company and its first user, who is its admin (unconfirmed until the link in
    the confirmation mail is followed: send_confirmation)."""
    errors = {}
    email = check_email(email, errors)
    password = check_password(password, errors)
    name = _check_name(name, errors, "name", required=False)
    company_name = _check_name(company_name, errors, "company_name")
    try:
        org = normalise_org_number(org_number)
    except ValueError as problem:
        errors["org_number"] = str(problem)
        org = None
    if industry not in INDUSTRIES:
        errors["industry"] = words.marked("Choose your industry from the list.")
    if size not in SIZES:
        errors["size"] = words.marked("Choose the company's size from the list.")
    if "email" not in errors and _email_taken(email):
        errors["email"] = words.marked("An account with this email already exists. Log in, or reset your password.")
    if org and Company.select().where(Company.org_number == org).exists():
        errors["org_number"] = words.marked("A company with this organisation number is already registered. "
                                            "Ask its admin to invite you.")
    if errors:
        raise InvalidInput(errors)
    try:
        with db.atomic():
            company = Company.create(name=company_name, org_number=org, industry=industry, size=size,
                                     registered_from=_address(address))
            return User.create(email=email, password_hash=accounts.hash_password(password), name=name,
                               company=company, company_role="admin", registered_from=(address or None) and address[:64])
    except IntegrityError:
        # Someone registered the same email or company a moment ago.
        raise InvalidInput({"email": words.marked("An account with this email or organisation number already "
                                                  "exists.")}) from None


def register_developer(*, email, password, name, vendor_name, org_number="", address=None):
    """A vendor company (developer) and its first user, who is the only admin of the
    developer's test company (for trying its own apps before they are published)."""
    errors = {}
    email = check_email(email, errors)
    password = check_password(password, errors)
    name = _check_name(name, errors, "name", required=False)
    vendor_name = _check_name(vendor_name, errors, "vendor_name")
    org = None
    if _text(org_number):
        try:
            org = normalise_org_number(org_number)
        except ValueError as problem:
            errors["org_number"] = str(problem)
    if "email" not in errors and _email_taken(email):
        errors["email"] = words.marked("An account with this email already exists. Log in, or reset your password.")
    if errors:
        raise InvalidInput(errors)
    try:
        with db.atomic():
            developer = Developer.create(name=vendor_name, org_number=org)
            company = create_test_company(developer, address=address)
            return User.create(email=email, password_hash=accounts.hash_password(password), name=name,
                               developer=developer, company=company, company_role="admin",
                               registered_from=(address or None) and address[:64])
    except IntegrityError:
        raise InvalidInput({"email": words.marked("An account with this email already exists.")}) from None


def send_confirmation(config, user):
    """Mails the registration's confirmation link (single use, 24 hours), at most
    MAX_CONFIRMATIONS_PER_HOUR an hour; None when nothing was sent."""
    if user.confirmed_at is not None:
        return None
    recent = (AccountToken.select().where(AccountToken.user == user.id, AccountToken.kind == "confirm",
                                          AccountToken.created_at > utcnow() - datetime.timedelta(hours=1)).count())
    if recent >= MAX_CONFIRMATIONS_PER_HOUR:
        return None
    raw = _issue_token("confirm", CONFIRM_TTL, user=user.id, email=user.email)
    try:
        locale = accounts.language_of(user)
        _send_link(config, raw, user.email, words.say(locale, "Confirm your App Market registration"),
                   words.say(locale, "Welcome to the App Market. Confirm that this is your email address (the link "
                                     "works once, for 24 hours):\n%(url)s\n\nUntil you do, your company cannot buy, "
                                     "connect, rate or invite, and apps cannot be submitted.",
                             url=_link(config, '/register/confirm/' + raw)))
    except MailNotConfigured:
        return None  # mail.py logged why; the page offers "send the link again"
    return raw


def confirm_registration(raw):
    row = find_token("confirm", raw)
    with db.atomic():
        _use_token(row)
        user = User.get_or_none(User.id == row.user_id)
        if user is None or user.email != row.email:
            raise InvalidLink(words.marked("This link is not valid."))
        if user.confirmed_at is None:
            User.update(confirmed_at=utcnow()).where(User.id == user.id).execute()
    return user


def _address(address):
    return str(address)[:64] if address else None


# --- test companies ------------------------------------------------------------------------
# A developer's own company for trying its unpublished apps (DESIGN.md §3 "published"): never
# billed, cannot Buy, entitled to its developer's apps only, and never a customer anywhere.

def test_company_name(vendor_name):
    return (vendor_name or "Developer")[:113] + " (test)"


def create_test_company(developer, address=None):
    """The developer's test company ("<vendor> (test)", org number TEST-<id>), made once; its
    users without a company become its admins."""
    with db.atomic():
        company = Company.get_or_none(Company.test_of_developer == developer)
        if company is None:
            company = Company.create(name=test_company_name(developer.name), org_number=f"TEST-{developer.id}",
                                     industry="other", size="1-9", test_of_developer=developer,
                                     registered_from=_address(address))
        User.update(company=company, company_role="admin").where(
            User.developer == developer, User.company.is_null()).execute()
    return company


def is_test_company(company):
    return company is not None and getattr(company, "test_of_developer_id", None) is not None


def is_test_company_of(company, developer_id):
    """The company is the test company of the developer with this id."""
    return is_test_company(company) and company.test_of_developer_id == developer_id


def counts_as_customer(company_column):
    """The one predicate that keeps test companies out of every count (stats, ratings,
    Recommended, dashboards, the ledger's views): true for a company id column (or a company
    row's id) that is not a test company, as a SQL expression."""
    test_companies = Company.select(Company.id).where(Company.test_of_developer.is_null(False))
    # A row without a company (a ledger row whose company was deleted) is not a test company's.
    return company_column.is_null() | company_column.not_in(test_companies)


def registration_confirmed(company_column):
    """SQL: the company's registration confirmed its email (DESIGN.md §3 verified customer):
    it is not a company whose users have all left their address unconfirmed (issue N, Deliver
    5). Imported and seeded companies' users are confirmed (migration 009, the seed); accepting
    an invitation confirms the invited address."""
    unconfirmed_only = (User.select(User.company).where(User.company.is_null(False))
                        .group_by(User.company).having(fn.MAX(User.confirmed_at).is_null()))
    return company_column.is_null(False) & company_column.not_in(unconfirmed_only)


# --- password and email --------------------------------------------------------------------

def change_password(user, current_password, new_password):
    """Sets the new password and ends every session (the caller logs this browser in again)."""
    errors = {}
    if not isinstance(current_password, str) or not accounts.check_password(user.password_hash, current_password):
        errors["current_password"] = words.marked("Your current password is not correct.")
    new_password = check_password(new_password, errors, "new_password")
    if errors:
        raise InvalidInput(errors)
    with db.atomic():
        user.password_hash = accounts.hash_password(new_password)
        User.update(password_hash=user.password_hash).where(User.id == user.id).execute()
        accounts.end_all_sessions(user)
    return user


def _link(config, path):
    return config["MARKET_URL"].rstrip("/") + path


def _issue_token(kind, ttl, **fields):
    raw = credentials.new_token()
    AccountToken.create(kind=kind, token_hash=credentials.token_hash(raw),
                        expires_at=utcnow() + ttl, **fields)
    return raw


def _send_link(config, raw, to, subject, body):
    """Mail a link; when it cannot go out, the link is withdrawn (nothing waits for a mail that
    never came) and MailNotConfigured tells the person to try again."""
    try:
        send_mail(config, to, subject, body)
    except MailNotConfigured:
        (AccountToken.update(used_at=utcnow())
         .where(AccountToken.token_hash == credentials.token_hash(raw)).execute())
        raise


def find_token(kind, raw):
    """The valid, unused token row for a link, or InvalidLink."""
    if not isinstance(raw, str) or not 10 <= len(raw) <= 200:
        raise InvalidLink(words.marked("This link is not valid."))
    row = AccountToken.get_or_none(AccountToken.token_hash == credentials.token_hash(raw),
                                   AccountToken.kind == kind)
    if row is None:
        raise InvalidLink(words.marked("This link is not valid."))
    if row.used_at is not None:
        raise InvalidLink(words.marked("This link has already been used."))
    if row.expires_at <= utcnow():
        raise InvalidLink(words.marked("This link has expired."))
    return row


def _use_token(row):
    """Marks the token used; exactly one of two simultaneous uses wins."""
    used = (AccountToken.update(used_at=utcnow())
            .where(AccountToken.id == row.id, AccountToken.used_at.is_null())
            .execute())
    if used != 1:
        raise InvalidLink(words.marked("This link has already been used."))


def request_password_reset(config, email):
    """Mails a reset link when the account exists; says nothing about whether it does."""
    user = User.get_or_none(User.email == accounts.normalise_email(email if isinstance(email, str) else ""))
    if user is None:
        return None
    recent = (AccountToken.select().where(AccountToken.user == user, AccountToken.kind == "reset",
                                          AccountToken.created_at > utcnow() - RESET_TTL).count())
    if recent >= MAX_RESETS_PER_HOUR:
        # Someone is filling this person's mailbox; the links already sent still work.
        return None
    raw = _issue_token("reset", RESET_TTL, user=user, email=user.email)
    try:
        locale = accounts.language_of(user)
        _send_link(config, raw, user.email, words.say(locale, "Reset your App Market password"),
                   words.say(locale, "Someone asked to reset the password of your App Market account.\n\n"
                                     "Choose a new password here (the link works once, for one hour):\n%(url)s\n\n"
                                     "If it was not you, ignore this mail; your password stays as it is.",
                             url=_link(config, '/reset/' + raw)))
    except MailNotConfigured:
        # Answer as if sent: a different answer would tell strangers which addresses have
        # accounts. mail.py logged why (never the link).
        return None
    return raw


def reset_password(raw, new_password):
    errors = {}
    new_password = check_password(new_password, errors)
    row = find_token("reset", raw)
    if errors:
        raise InvalidInput(errors)
    with db.atomic():
        _use_token(row)
        user = User.get_by_id(row.user_id)
        user.password_hash = accounts.hash_password(new_password)
        User.update(password_hash=user.password_hash).where(User.id == user.id).execute()
        # Other reset links still in someone's mailbox stop working too.
        (AccountToken.update(used_at=utcnow())
         .where(AccountToken.user == user, AccountToken.kind == "reset", AccountToken.used_at.is_null())
         .execute())
        accounts.end_all_sessions(user)
    return user


def request_email_change(config, user, new_email, password):
    errors = {}
    email = check_email(new_email, errors)
    if not isinstance(password, str) or not accounts.check_password(user.password_hash, password):
        errors["password"] = words.marked("Your password is not correct.")
    if "email" not in errors:
        if email == user.email:
            errors["email"] = words.marked("That is already your email address.")
        elif _email_taken(email):
            errors["email"] = words.marked("Another account uses this email address.")
    if errors:
        raise InvalidInput(errors)
    raw = _issue_token("email", EMAIL_CHANGE_TTL, user=user, email=email)
    locale = accounts.language_of(user)
    _send_link(config, raw, email, words.say(locale, "Confirm your new App Market email address"),
               words.say(locale, "Confirm that %(email)s should be the email address of your App Market account:\n"
                                 "%(url)s\n\nThe link works once, for 24 hours.",
                         email=email, url=_link(config, '/account/email/confirm/' + raw)))
    try:
        send_mail(config, user.email, words.say(locale, "Your App Market email address is about to change"),
                  words.say(locale, "Someone asked to change your account's email address to %(email)s. It changes "
                                    "only when the new address is confirmed. If it was not you, change your password "
                                    "now.", email=email))
    except MailNotConfigured:
        pass  # the confirmation went out; a lost notice must not undo the request (logged in mail.py)
    return raw


def confirm_email_change(raw):
    row = find_token("email", raw)
    try:
        with db.atomic():
            _use_token(row)
            user = User.get_by_id(row.user_id)
            User.update(email=row.email).where(User.id == user.id).execute()
            user.email = row.email
    except IntegrityError:
        raise InvalidLink(words.marked("Another account started using this email address; the change was not made.")) from None
    return user


# --- memberships and the current company (issue T, bureaus) -------------------------------
# `Membership` holds every company a user belongs to; `User.company` is the current one and
# `User.company_role` the role there (it wins over the membership's row, which may be missing
# for users made before memberships or by tests). Every page acts for the current company only.

class NotAMember(Exception):
    """The user does not belong to that company (a 404: nothing says whether it exists)."""


def add_membership(user, company_id, role):
    """The user belongs to the company with this role (made or updated)."""
    with db.atomic():
        updated = (Membership.update(role=role)
                   .where(Membership.user == user.id, Membership.company == company_id).execute())
        if not updated:
            Membership.create(user=user.id, company=company_id, role=role)


def memberships_of(user):
    """[(company, role)] of every company the user belongs to, the current one first, then by name."""
    rows = {m.company_id: (m.company, m.role) for m in
            Membership.select(Membership, Company).join(Company).where(Membership.user == user.id)}
    if user.company_id:
        current = rows.get(user.company_id, (None, None))[0] or Company.get_by_id(user.company_id)
        rows[user.company_id] = (current, user.company_role)
    ordered = sorted(rows.values(), key=lambda pair: (pair[0].id != user.company_id, pair[0].name.lower()))
    return ordered


def membership_count(user):
    # Asked on every logged-in page (the account menu): its SQL is built once (prepared.py).
    rows = prepared.select("membership_companies", lambda user_id: Membership.select(Membership.company)
                           .where(Membership.user == user_id).tuples(), user.id)
    ids = {company_id for (company_id,) in rows}
    if user.company_id:
        ids.add(user.company_id)
    return len(ids)


def role_in(user, company_id):
    """The user's role in the company, or None when not a member."""
    if company_id is None:
        return None
    if user.company_id == company_id:
        return user.company_role
    row = Membership.get_or_none(Membership.user == user.id, Membership.company == company_id)
    return row.role if row is not None else None


def switch_company(user, public_id):
    """Make the company with this public id the user's current company; NotAMember (and nothing
    changed) unless the user belongs to it."""
    if not isinstance(public_id, str) or not public_id or len(public_id) > 32:
        raise NotAMember()
    company = Company.get_or_none(Company.public_id == public_id)
    role = role_in(user, company.id) if company is not None else None
    if role is None:
        raise NotAMember()
    with db.atomic():
        if user.company_id and user.company_id != company.id:
            add_membership(user, user.company_id, user.company_role or "member")  # keep the one left
        User.update(company=company.id, company_role=role).where(User.id == user.id).execute()
    user.company, user.company_role = company, role
    return company


# --- members -------------------------------------------------------------------------------

def _member_ids(company_id):
    """The ids of the company's users: those whose current company it is and its memberships."""
    ids = {u.id for u in User.select(User.id).where(User.company == company_id)}
    ids |= {m.user_id for m in Membership.select(Membership.user).where(Membership.company == company_id)}
    return ids


def members(company):
    """The company's users, each with `company_role` set to the role in this company."""
    company_id = getattr(company, "id", company)
    if company_id is None:
        return []
    # On every app page a logged-in reader opens (whom to ask): SQL built once (prepared.py).
    # A UNION of the two id lookups, not an OR: PostgreSQL scanned every user for the OR.
    people = prepared.select("company_members", lambda cid: User.select().where(User.id.in_(
        User.select(User.id).where(User.company == cid)
        | Membership.select(Membership.user).where(Membership.company == cid))).order_by(User.email), company_id)
    roles = dict(prepared.select("company_member_roles", lambda cid: Membership.select(
        Membership.user, Membership.role).where(Membership.company == cid).tuples(), company_id))
    for person in people:
        if person.company_id != company_id:
            person.company_role = roles.get(person.id, "member")
    return people


def pending_invitations(company):
    return list(AccountToken.select()
                .where(AccountToken.company == company, AccountToken.kind == "invite",
                       AccountToken.used_at.is_null(), AccountToken.expires_at > utcnow())
                .order_by(AccountToken.created_at.desc()))


def invite_member(config, admin, email, role):
    admin = require_company_admin(admin)
    accounts.require_confirmed(admin)
    errors = {}
    email = check_email(email, errors)
    if role not in ROLES:
        errors["role"] = words.marked("Choose member or admin.")
    if "email" not in errors:
        existing = User.get_or_none(User.email == email)
        if existing is not None and role_in(existing, admin.company_id) is not None:
            errors["email"] = words.marked("This person is already a member of your company.")
    if errors:
        raise InvalidInput(errors)
    company = Company.get_by_id(admin.company_id)
    raw = _issue_token("invite", INVITE_TTL, company=company, email=email, role=role, user=admin)
    # The invited person's own language when they have an account, else the inviter's.
    locale = accounts.language_of(existing if existing is not None else admin)
    values = {"who": admin.name or admin.email, "company": company.name, "url": _link(config, '/invite/' + raw)}
    invited = (words.say(locale, "%(who)s invited you to join %(company)s in the App Market as an admin.", **values)
               if role == "admin" else
               words.say(locale, "%(who)s invited you to join %(company)s in the App Market as a member.", **values))
    how = (words.say(locale, "You already have an App Market account: log in with this address and accept here "
                             "(the link works once, for 7 days):\n%(url)s", **values) if existing is not None else
           words.say(locale, "Set your password and join here (the link works once, for 7 days):\n%(url)s", **values))
    _send_link(config, raw, email, words.say(locale, "Join %(company)s in the App Market", **values),
               f"{invited}\n\n{how}")
    return raw


def accept_invitation(raw, password, name, user=None):
    """The invited person's account, in the inviting company with the invited role. Someone who
    already has an account (a bureau working for several companies, issue T) accepts logged in
    as the invited address and gains a membership: `user` is that account, no password asked."""
    if user is not None:
        return _join_with_account(raw, user)
    errors = {}
    password = check_password(password, errors)
    name = _check_name(name, errors, "name", required=False)
    row = find_token("invite", raw)
    _check_sender(row)
    if errors:
        raise InvalidInput(errors)
    try:
        with db.atomic():
            _use_token(row)
            # Following the link proved the address: an invited account is confirmed.
            user = User.create(email=row.email, password_hash=accounts.hash_password(password), name=name,
                               company=row.company_id, company_role=row.role, confirmed_at=utcnow())
            add_membership(user, row.company_id, row.role)
            return user
    except IntegrityError:
        raise InvalidLink(words.marked("An account with this email address already exists. Log in instead.")) from None


def _check_sender(row):
    if row.role == "admin":
        # An admin invitation is worth only what its sender still is (issue O, finding 7).
        sender = User.get_or_none(User.id == row.user_id) if row.user_id else None
        if sender is None or role_in(sender, row.company_id) != "admin":
            raise InvalidLink(words.marked("This invitation is no longer valid: the admin who sent it no longer "
                                           "is one. Ask an admin of the company to invite you again."))


def _join_with_account(raw, user):
    row = find_token("invite", raw)
    if user.email != row.email:
        raise InvalidLink(words.marked("This invitation is for %(email)s. Log in with that address to accept it."),
                          email=row.email)
    _check_sender(row)
    with db.atomic():
        _use_token(row)
        add_membership(user, row.company_id, row.role)
        if user.confirmed_at is None:  # following the link proved the address
            User.update(confirmed_at=utcnow()).where(User.id == user.id).execute()
        if user.company_id is None:
            User.update(company=row.company_id, company_role=row.role).where(User.id == user.id).execute()
        elif user.company_id == row.company_id:
            User.update(company_role=row.role).where(User.id == user.id).execute()
    return User.get_by_id(user.id)


def invited_account_exists(row):
    return _email_taken(row.email)


MAX_ID = 2**31 - 1  # PostgreSQL's integer: a larger guessed id must be "not found", not an error


def parse_id(raw):
    text = raw if isinstance(raw, str) else str(raw)
    if not text.isdigit() or len(text) > 10 or int(text) > MAX_ID:
        return None
    return int(text)


def _member_of(admin, member_id):
    member_id = parse_id(member_id)
    if member_id is None:
        raise MemberNotFound()
    member = User.get_or_none(User.id == member_id)
    if member is None or member.id not in _member_ids(admin.company_id):
        raise MemberNotFound()
    member.company_role_here = role_in(member, admin.company_id) or "member"
    return member


def _lock_company(company_id):
    """Two admins demoting each other at once must not leave the company without one.
    SQLite's write transactions are already serialised (BEGIN IMMEDIATE)."""
    if database.is_postgres(db):
        Company.select().where(Company.id == company_id).for_update().execute()


def _admin_ids(company_id):
    ids = {u.id for u in User.select(User.id).where(User.company == company_id, User.company_role == "admin")}
    for m in Membership.select(Membership, User).join(User).where(Membership.company == company_id,
                                                                  Membership.role == "admin"):
        if m.user.company_id != company_id:  # the current company's role is the user's
            ids.add(m.user_id)
    return ids


def company_admins(company):
    """The company's admins, ordered by id: those whose current company it is with the admin
    role, and those who are admins of it through a membership (a bureau's users, issue T).
    Every mail "to the company's admins" is sent to these."""
    company_id = getattr(company, "id", company)
    return User.select().where(User.id.in_(list(_admin_ids(company_id)) or [0])).order_by(User.id)


def _other_admins(member, company_id=None):
    return len(_admin_ids(company_id or member.company_id) - {member.id})


def set_member_role(admin, member_id, role):
    admin = require_company_admin(admin)
    if role not in ROLES:
        raise InvalidInput({"role": words.marked("Choose member or admin.")})
    with db.atomic():
        _lock_company(admin.company_id)
        member = _member_of(admin, member_id)
        if role == "member" and member.company_role_here == "admin" and _other_admins(member, admin.company_id) == 0:
            raise InvalidInput({"role": words.marked("The company needs at least one admin. "
                                                     "Make someone else admin first.")})
        (Membership.update(role=role)
         .where(Membership.user == member.id, Membership.company == admin.company_id).execute())
        if member.company_id == admin.company_id:
            User.update(company_role=role).where(User.id == member.id).execute()
        member.company_role = member.company_role_here = role
    return member


def remove_member(admin, member_id):
    """The member leaves the company. Someone who belongs to other companies too (a bureau) loses
    this membership only, and when it was the current company switches to another; an account
    of this company alone is removed, as accounts belong to their company."""
    admin = require_company_admin(admin)
    company_id = admin.company_id
    with db.atomic():
        _lock_company(company_id)
        member = _member_of(admin, member_id)
        if member.company_role_here == "admin" and _other_admins(member, company_id) == 0:
            raise InvalidInput({"member": words.marked("The company's last admin cannot be removed.")})
        others = list(Membership.select().where(Membership.user == member.id, Membership.company != company_id)
                      .order_by(Membership.created_at, Membership.id))
        if member.company_id != company_id:
            Membership.delete().where(Membership.user == member.id, Membership.company == company_id).execute()
        elif others:
            Membership.delete().where(Membership.user == member.id, Membership.company == company_id).execute()
            User.update(company=others[0].company_id, company_role=others[0].role).where(
                User.id == member.id).execute()
        else:
            User.delete().where(User.id == member.id).execute()
            member.account_removed = True
    return member


def withdraw_invitation(admin, invitation_id):
    """An admin takes back an invitation not yet accepted: its link stops working."""
    admin = require_company_admin(admin)
    invitation_id = parse_id(invitation_id)
    if invitation_id is None:
        raise MemberNotFound()
    withdrawn = (AccountToken.update(used_at=utcnow())
                 .where(AccountToken.id == invitation_id, AccountToken.kind == "invite",
                        AccountToken.company == admin.company_id, AccountToken.used_at.is_null())
                 .execute())
    if withdrawn != 1:
        raise MemberNotFound()


# --- deleting an account -------------------------------------------------------------------

def is_last_admin(user):
    return bool(user.is_company_admin) and _other_admins(user) == 0


def check_deletion(user, password):
    """What deleting this account deletes: "company" (its last admin takes the company with
    it) or "user". InvalidInput when the password is wrong or the account cannot go alone."""
    if not isinstance(password, str) or not accounts.check_password(user.password_hash, password):
        raise InvalidInput({"password": words.marked("Your password is not correct.")})
    if user.developer_id and User.select().where(User.developer == user.developer_id,
                                                 User.id != user.id).count() == 0:
        raise InvalidInput({"password": words.marked("A developer's only account holds its apps and payouts: "
                                                     "write to the App Market to close the developer account.")})
    if user.is_platform_admin and User.select().where(User.is_platform_admin == True,  # noqa: E712
                                                      User.id != user.id).count() == 0:
        raise InvalidInput({"password": words.marked("The platform's last admin cannot delete their account.")})
    return "company" if user.company_id and is_last_admin(user) else "user"


def erase_user(user):
    """The account, its sessions and links (cascades); what it wrote for its company stays."""
    with db.atomic():
        User.delete().where(User.id == user.id).execute()


def erase_company(company_id):
    """The company and everything it owns go (users, sessions, connections, subscriptions,
    reviews, its accounting data), except the ledger rows the law requires: their company
    becomes NULL (on_delete SET NULL), so the name is gone. The caller first revoked the
    connections and set the subscriptions to cancel at period end."""
    with db.atomic():
        AccountToken.delete().where(AccountToken.company == company_id).execute()
        # Someone who works in other companies too (a bureau) is not deleted with this one
        # (User.company cascades): they move on to another of their companies.
        Membership.delete().where(Membership.company == company_id).execute()
        for person in list(User.select().where(User.company == company_id)):
            other = (Membership.select().where(Membership.user == person.id)
                     .order_by(Membership.created_at, Membership.id).first())
            if other is not None:
                User.update(company=other.company_id, company_role=other.role).where(User.id == person.id).execute()
        Company.delete().where(Company.id == company_id).execute()
