"""Stripe's form encoding, both ways: `a[b][0][c]=v` into nested dicts and lists, and typed reads.

The stripe library encodes nested dicts as `key[sub]`, lists as `key[0]`, `key[1]` (and a
list URL it got back may carry `expand[]`), booleans as `true`/`false`.
"""

import re
from decimal import Decimal, InvalidOperation

from .errors import invalid, missing, unknown

_TOKEN = re.compile(r"\[([^\[\]]*)\]")


def parse_pairs(pairs):
    """Nest a list of (key, value) pairs; raises a Stripe-style 400 for malformed keys."""
    root: dict = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        if not head:
            raise invalid(f"Invalid parameter name: {key}", param=key)
        parts = [head]
        if rest:
            rest = "[" + rest
            tokens = _TOKEN.findall(rest)
            if "".join(f"[{t}]" for t in tokens) != rest:
                raise invalid(f"Invalid parameter name: {key}", param=key)
            parts += tokens
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                # `key[]` was already numbered by normalise_pairs; an empty bracket here is garbage
                raise invalid(f"Invalid parameter name: {key}", param=key)
            if last:
                if isinstance(node.get(part), dict):
                    raise invalid(f"Invalid value for {key}: a hash was expected.", param=key)
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise invalid(f"Invalid parameter name: {key}", param=key)
                node = child
    # the top level is always a hash, even when every key is a number
    return {k: _listify(v) for k, v in root.items()}


def _listify(node):
    if not isinstance(node, dict):
        return node
    out = {k: _listify(v) for k, v in node.items()}
    if out and all(k.isdigit() for k in out):
        return [out[k] for k in sorted(out, key=int)]
    return out


def normalise_pairs(pairs):
    """`expand[]=a&expand[]=b` (as in a list's `url`) becomes `expand[0]`, `expand[1]`."""
    counters: dict[str, int] = {}
    out = []
    for key, value in pairs:
        if key.endswith("[]"):
            base = key[:-2]
            n = counters.get(base, 0)
            counters[base] = n + 1
            key = f"{base}[{n}]"
        out.append((key, value))
    return out


class Params:
    """Typed reads of one request's parameters; anything not read is an unknown parameter."""

    def __init__(self, data: dict, prefix=""):
        self.data = data
        self.prefix = prefix
        self.seen: set[str] = set()

    def _name(self, key):
        return f"{self.prefix}[{key}]" if self.prefix else key

    def has(self, key):
        return key in self.data

    def raw(self, key, default=None):
        self.seen.add(key)
        return self.data.get(key, default)

    def str(self, key, required=False, default=None, choices=None):
        value = self.raw(key)
        if value is None:
            if required:
                raise missing(self._name(key))
            return default
        if not isinstance(value, str):
            raise invalid(f"Invalid string: {self._name(key)}", param=self._name(key))
        if value == "" and not required:
            return default
        if choices and value not in choices:
            raise invalid(
                f"Invalid {self._name(key)}: must be one of {', '.join(choices)}", param=self._name(key)
            )
        return value

    def int(self, key, required=False, default=None, minimum=None):
        value = self.raw(key)
        if value is None or value == "":
            if required:
                raise missing(self._name(key))
            return default
        if not isinstance(value, str) or not re.fullmatch(r"-?\d{1,15}", value):
            raise invalid(f"Invalid integer: {value}", param=self._name(key), code="parameter_invalid_integer")
        number = int(value)
        if minimum is not None and number < minimum:
            raise invalid(
                f"Invalid {self._name(key)}: must be at least {minimum}", param=self._name(key),
                code="parameter_invalid_integer",
            )
        return number

    def decimal(self, key, required=False, default=None, lo=None, hi=None):
        value = self.raw(key)
        if value is None or value == "":
            if required:
                raise missing(self._name(key))
            return default
        try:
            number = Decimal(value) if isinstance(value, str) else None
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise invalid(f"Invalid decimal: {value}", param=self._name(key))
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            raise invalid(f"Invalid {self._name(key)}: must be between {lo} and {hi}", param=self._name(key))
        return number

    def bool(self, key, default=None):
        value = self.raw(key)
        if value is None or value == "":
            return default
        if value in ("true", "false"):
            return value == "true"
        raise invalid(f"Invalid boolean: {value}", param=self._name(key))

    def dict(self, key, required=False):
        value = self.raw(key)
        if value is None or value == "":
            if required:
                raise missing(self._name(key))
            return None
        if isinstance(value, list):
            value = {str(i): v for i, v in enumerate(value)}
        if not isinstance(value, dict):
            raise invalid(f"Invalid object: {self._name(key)}", param=self._name(key))
        return Params(value, self._name(key))

    def list(self, key, required=False):
        value = self.raw(key)
        if value is None or value == "":
            if required:
                raise missing(self._name(key))
            return None
        if isinstance(value, dict):
            raise invalid(f"Invalid array: {self._name(key)}", param=self._name(key))
        if not isinstance(value, list):
            value = [value]
        return value

    def list_of_dicts(self, key, required=False):
        items = self.list(key, required)
        if items is None:
            return None
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise invalid(f"Invalid object: {self._name(key)}[{i}]", param=f"{self._name(key)}[{i}]")
            out.append(Params(item, f"{self._name(key)}[{i}]"))
        return out

    def str_list(self, key, required=False):
        items = self.list(key, required)
        if items is None:
            return None
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise invalid(f"Invalid string: {self._name(key)}[{i}]", param=f"{self._name(key)}[{i}]")
        return items

    def metadata(self, key="metadata"):
        value = self.raw(key)
        if value is None:
            return None
        if value == "":
            return {}  # Stripe: `metadata=` clears it
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise invalid("Invalid metadata: values must be strings", param=self._name(key))
        if len(value) > 50:
            raise invalid("Invalid metadata: at most 50 keys", param=self._name(key))
        return dict(value)

    def done(self, *ignored):
        """Reject what the endpoint never read, as Stripe does with unknown parameters."""
        for key in self.data:
            if key not in self.seen and key not in ignored:
                raise unknown(self._name(key))


def merge_metadata(current, update):
    if update is None:
        return current
    if update == {}:
        return {}
    merged = dict(current or {})
    for k, v in update.items():
        if v == "":
            merged.pop(k, None)  # an empty value deletes the key
        else:
            merged[k] = v
    return merged
