"""The one way the market calls a URL (app webhook URLs, and anything added later; Stripe goes
through its own library and mail through mail.py).

A URL given to the market by someone outside it (a developer's webhook URL) could point at the
market's own machine or network: the Stripe sandbox's control endpoints, a database, a cloud's
metadata service. So, in every environment, tests and the demo included:

- The host is resolved at send time, and every address it resolves to must be public: no
  loopback, private, shared (CGNAT), link-local (169.254.169.254, the metadata service),
  unique-local, multicast, unspecified, reserved or documentation address, no IPv4-mapped IPv6,
  and no 6to4 / NAT64 / Teredo address that embeds a non-public IPv4 one.
- The market connects to the address it checked itself (no second lookup a changed DNS answer
  could slip through), checks the address the socket actually reached, and speaks TLS verified
  against the host name (SNI and certificate) when the URL is https.
- Redirects are never followed (a 3xx is just an answer), the response is read up to
  MAX_RESPONSE_BYTES, and the whole call, name lookup included, takes at most `total` seconds.
- Production calls only https URLs.

The one exception is the setting OUTBOUND_ALLOWED_ORIGINS: exact origins (`scheme://host:port`,
comma-separated, empty by default) the address check lets through: the demo's sample
integration and the receivers of tests run on 127.0.0.1. Production refuses to start with it set
(config.py). Nothing else bypasses the check.

`destination_problem(url)` is the same check for a form (the developer's webhook URL): it
refuses loopback and internal URLs whatever OUTBOUND_ALLOWED_ORIGINS says.
"""
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from market.core import words

MAX_RESPONSE_BYTES = 64 * 1024
CONNECT_TIMEOUT = 2.0  # seconds for the TCP (and TLS) connection
TOTAL_TIMEOUT = 10.0  # seconds for the whole call: lookup, connect, send, answer
USER_AGENT = "AppMarket/1"

# Names that are this machine, the local network or a cloud's metadata service, whatever they
# resolve to where the form is filled in.
INTERNAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "metadata",
                  "metadata.google.internal", "instance-data", "instance-data.ec2.internal"}
INTERNAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".intranet", ".lan", ".home.arpa",
                     ".corp", ".home")
NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class OutboundError(Exception):
    """The call did not give an answer: refused, unreachable, too slow."""


class Refused(OutboundError):
    """The market will not call this URL (its address or scheme); nothing was sent."""


class TimedOut(OutboundError):
    """The call took longer than its time limit."""


@dataclass
class Response:
    status: int
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    truncated: bool = False  # the answer was longer than the cap; the rest was not read


# --------------------------------------------------------------------------- addresses
def address_problem(address):
    """Why the market will not connect to this IP address, or None when it is public."""
    try:
        ip = ipaddress.ip_address(str(address).split("%", 1)[0])
    except ValueError:
        return f"{address} is not an IP address"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return f"{ip} is an IPv4-mapped address"
        if ip.teredo is not None:
            return f"{ip} is a Teredo tunnel address"
        embedded = None
        if ip.sixtofour is not None:
            embedded = ip.sixtofour
        elif any(ip in prefix for prefix in NAT64_PREFIXES):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = address_problem(embedded)
            if inner:
                return f"{ip} embeds an internal address ({inner})"
            if any(ip in prefix for prefix in NAT64_PREFIXES):
                return None  # a translator's prefix: what counts is the IPv4 address it reaches
        if ip.is_site_local:
            return f"{ip} is a site-local address"
    kinds = (("loopback", ip.is_loopback), ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
             ("unspecified", ip.is_unspecified), ("reserved", ip.is_reserved), ("private", ip.is_private))
    for kind, hit in kinds:
        if hit:
            return f"{ip} is {'an' if kind[0] in 'aeiou' else 'a'} {kind} address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


def resolve(host, port):
    """Every IP address `host` resolves to (the one place the market asks DNS; tests patch it)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _resolve_within(host, port, seconds):
    """resolve(), but given up after `seconds` (getaddrinfo has no timeout of its own)."""
    outcome = {}

    def run():
        try:
            outcome["addresses"] = resolve(host, port)
        except (OSError, UnicodeError) as error:
            outcome["error"] = error

    worker = threading.Thread(target=run, name="outbound-resolve", daemon=True)
    worker.start()
    worker.join(max(seconds, 0.01))
    if worker.is_alive():
        raise TimedOut(f"looking up {host} took longer than {seconds:.1f} s")
    if "error" in outcome:
        raise OutboundError(f"{host} could not be looked up: {outcome['error']}")
    if not outcome.get("addresses"):
        raise OutboundError(f"{host} has no address")
    return outcome["addresses"]


# --------------------------------------------------------------------------- URLs and origins
def _parts(url):
    """(scheme, host, port, path-and-query) of an http(s) URL; Refused when it is not one."""
    try:
        parts = urlsplit(url or "")
        port = parts.port
    except ValueError:
        raise Refused("not a valid address") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("only http(s) addresses can be called")
    if parts.username is not None or parts.password is not None:
        raise Refused("an address may not contain a user name or password")
    port = port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname.lower().rstrip("."), port, target


def origin(url):
    """`scheme://host:port` of a URL, the port always written out."""
    scheme, host, port, _ = _parts(url)
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


def parse_origins(raw):
    """OUTBOUND_ALLOWED_ORIGINS as a set of normalised origins; ValueError on anything that is
    not exactly an origin (a path, query or credentials)."""
    origins = set()
    for item in str(raw or "").split(","):
        item = item.strip()
        if not item:
            continue
        parts = urlsplit(item)
        try:
            parts.port  # noqa: B018 -- raises on a malformed port
        except ValueError:
            raise ValueError(f"OUTBOUND_ALLOWED_ORIGINS: {item!r} has a malformed port") from None
        if (parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/")
                or parts.query or parts.fragment or parts.username is not None):
            raise ValueError(f"OUTBOUND_ALLOWED_ORIGINS: {item!r} is not an origin like http://127.0.0.1:5001")
        origins.add(origin(item))
    return origins


def _host_name_problem(host):
    if host in INTERNAL_NAMES or host.endswith(INTERNAL_SUFFIXES):
        return f"{host} is a local or internal name"
    if "." not in host and ":" not in host:
        return f"{host} is not a public host name"
    return None


def destination_problem(url, lookup_seconds=2.0):
    """Why a URL given in a form cannot be one the market calls (a words.Phrase the form says in
    the reader's language; the address's own explanation is technical, and English), or None.
    Refuses every loopback, internal or metadata address, by name or by what the name resolves
    to now, whatever OUTBOUND_ALLOWED_ORIGINS says (a name that does not resolve now is left to
    the check at send time)."""
    try:
        scheme, host, port, _ = _parts(url)
    except Refused as error:
        return words.Phrase("%(problem)s.", problem=str(error))
    problem = _host_name_problem(host)
    if problem is None:
        try:
            addresses = _resolve_within(host, port, lookup_seconds)
        except OutboundError:
            addresses = []
        for address in addresses:
            problem = address_problem(address)
            if problem:
                break
    if problem:
        return words.Phrase(words.marked("the market does not call local or internal addresses (%(problem)s)."),
                            problem=problem)
    return None


# --------------------------------------------------------------------------- the call
class _Connection(http.client.HTTPConnection):
    """http.client over a socket this module opened and checked itself."""

    def __init__(self, host, port, sock, timeout):
        super().__init__(host, port, timeout=timeout)
        self.sock = sock

    def connect(self):  # pragma: no cover - the socket is given; reconnecting would skip the check
        raise OutboundError("the connection was closed")


def open_socket(address, port, timeout):
    """A TCP connection to exactly this address (tests patch it to play a network that lies)."""
    return socket.create_connection((address, port), timeout=timeout)


def _connect(host, port, addresses, checked, deadline):
    last_error = None
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimedOut("the time limit passed while connecting")
        try:
            sock = open_socket(address, port, min(CONNECT_TIMEOUT, remaining))
        except OSError as error:
            last_error = error
            continue
        try:
            peer = sock.getpeername()[0]
            problem = address_problem(peer) if checked else None
            if problem:
                raise Refused(f"the connection reached {problem}")
        except Exception:
            sock.close()
            raise
        return sock
    raise OutboundError(f"could not connect to {host}:{port}: {last_error}")


def request(config, method, url, body=b"", headers=None, total=TOTAL_TIMEOUT, max_bytes=MAX_RESPONSE_BYTES,
            tls_context=None):
    """Call `url` once, safely (see the module's docstring). Returns a Response (any status,
    3xx included: redirects are not followed); raises Refused before anything is sent to an
    address the market does not call, OutboundError (TimedOut) when there was no answer."""
    started = time.monotonic()
    deadline = started + total
    scheme, host, port, target = _parts(url)
    production = (config or {}).get("MARKET_ENV") == "production"
    if production and scheme != "https":
        raise Refused("production calls only https addresses")
    allowed = parse_origins((config or {}).get("OUTBOUND_ALLOWED_ORIGINS"))
    checked = production or origin(url) not in allowed
    if checked:
        problem = _host_name_problem(host)
        if problem:
            raise Refused(problem)
    addresses = _resolve_within(host, port, deadline - time.monotonic())
    if checked:
        for address in addresses:
            problem = address_problem(address)
            if problem:
                raise Refused(f"{host} resolves to {problem}")
    sock = _connect(host, port, addresses, checked, deadline)
    # The whole exchange within the deadline: a watchdog shuts the connection down, so an
    # endpoint that answers a byte at a time cannot keep the market waiting.
    expired = threading.Event()
    watchdog_sock = sock.dup()

    def expire():
        expired.set()
        try:
            watchdog_sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    timer = threading.Timer(max(deadline - time.monotonic(), 0.0), expire)
    timer.daemon = True
    timer.start()
    connection = None
    try:
        sock.settimeout(max(min(total, deadline - time.monotonic()), 0.01))
        if scheme == "https":
            # Verified against the name in the URL (SNI and certificate), not the address.
            sock = (tls_context or ssl.create_default_context()).wrap_socket(sock, server_hostname=host)
        connection = _Connection(host, port, sock, timeout=sock.gettimeout())
        all_headers = {"User-Agent": USER_AGENT, "Connection": "close", **(headers or {})}
        connection.request(method, target, body=body, headers=all_headers)
        answer = connection.getresponse()
        data = answer.read(max_bytes + 1)
        truncated = len(data) > max_bytes
        response = Response(status=answer.status, headers=dict(answer.getheaders()), body=data[:max_bytes],
                            truncated=truncated)
    except (OSError, http.client.HTTPException) as error:
        if expired.is_set() or isinstance(error, TimeoutError):
            raise TimedOut(f"no answer within {total:.1f} s") from None
        raise OutboundError(f"{type(error).__name__}: {error}") from None
    finally:
        timer.cancel()
        if connection is not None:
            connection.close()
        sock.close()
        watchdog_sock.close()
    if expired.is_set():
        raise TimedOut(f"no answer within {total:.1f} s")
    return response


def post(config, url, body, headers=None, **kwargs):
    return request(config, "POST", url, body=body, headers=headers, **kwargs)
