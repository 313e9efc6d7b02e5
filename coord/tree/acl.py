"""Access control: ACL validation at create/setACL time and permission checks per request.

An *identity* is a ``(scheme, id)`` pair a connection has proven: every connection starts with
``("ip", peer_address)``, ``addauth digest user:pw`` adds ``("digest", "user:<base64 sha1>")`` and,
when that digest is the configured super digest, ``("super", "")``; a SASL login adds
``("sasl", user)`` and a verified TLS client certificate ``("x509", subject)`` (ZooKeeper knows
the sasl and x509 schemes only when their providers are configured; coord always does). An ACL
entry grants its permission bits to ``world:anyone`` or to callers holding a matching identity of the same scheme (exact string
for digest, address prefix for ip). An empty ACL on a node grants everything; a super identity
bypasses every check. These are ZooKeeper's rules (PrepRequestProcessor.checkACL / fixupACL).
"""

import base64
import hashlib
import ipaddress
import re

from coord.auth import x500
from coord.protocol.records import ACL, Id

READ, WRITE, CREATE, DELETE, ADMIN = 1, 2, 4, 8, 16
ALL = 31

WORLD_ANYONE = Id("world", "anyone")
OPEN_ACL_UNSAFE = (ACL(ALL, WORLD_ANYONE),)
READ_ACL_UNSAFE = (ACL(READ, WORLD_ANYONE),)

# Schemes whose identities count as "authenticated" for the `auth` ACL scheme (ip does not).
_AUTHENTICATED_SCHEMES = frozenset({"digest", "sasl", "x509"})


class InvalidACL(Exception):
    """The ACL list given to create/setACL cannot be stored (ZooKeeper's InvalidACL, -114)."""


def digest(user_password):
    """``"user:pw"`` -> ``"user:" + base64(sha1("user:pw"))``, as ZooKeeper's digest provider."""
    user = user_password.split(":", 1)[0]
    sha1 = hashlib.sha1(user_password.encode("utf-8")).digest()
    return user + ":" + base64.b64encode(sha1).decode("ascii")


def _java_split_count(text, sep):
    # Java's String.split drops trailing empty strings; ZooKeeper's digest check relies on that.
    parts = text.split(sep)
    while parts and parts[-1] == "":
        parts.pop()
    return len(parts)


def _parse_ip_acl(expr):
    """``a.b.c.d`` or ``a.b.c.d/bits`` (or IPv6) -> ip_network, or None when invalid."""
    try:
        address, _, bits = expr.partition("/")
        addr = ipaddress.ip_address(address)
        if bits:
            if not bits.isdigit():
                return None
            return ipaddress.ip_network((addr, int(bits)), strict=False)
        return ipaddress.ip_network(addr)
    except ValueError:
        return None


# A Kerberos-style name (SASLAuthenticationProvider.isValid): with an "@" it must read
# primary[/instance]@REALM; without one anything goes.
_KERBEROS_NAME = re.compile(r"([^/@]*)(/([^/@]*))?@([^/@]*)")


def _is_valid_id(scheme, ident):
    if scheme == "digest":
        return _java_split_count(ident, ":") == 2
    if scheme == "ip":
        return _parse_ip_acl(ident) is not None
    if scheme == "sasl":
        return "@" not in ident or _KERBEROS_NAME.fullmatch(ident) is not None
    if scheme == "x509":
        return x500.is_valid_name(ident)
    return False


# ACL lists without an ``auth`` entry normalise the same way whoever sends them: the result is
# kept (and shared by every node created with it). Bounded: a client sending a new ACL list with
# every request cannot grow it without limit.
_FIXED = {}
_MAX_FIXED = 1024


def fixup_acl(acl, identities):
    """Validate and normalise an ACL list for storage; raises InvalidACL.

    Duplicates are removed (keeping order) and ``auth`` entries are expanded into one entry per
    authenticated identity of the caller.
    """
    if not acl:
        raise InvalidACL("empty ACL")
    key = tuple(acl)
    fixed = _FIXED.get(key)
    if fixed is not None:
        return fixed
    fixed = _fixup(acl, identities)
    if all(entry.id.scheme != "auth" for entry in acl):
        if len(_FIXED) >= _MAX_FIXED:
            _FIXED.clear()
        _FIXED[key] = fixed
    return fixed


def _fixup(acl, identities):
    fixed = []
    for entry in acl:
        scheme = entry.id.scheme or ""
        ident = entry.id.id or ""   # kazoo sends "" as null
        if scheme == "world":
            if ident != "anyone":
                raise InvalidACL("world scheme only takes 'anyone'")
            fixed.append(ACL(entry.perms, WORLD_ANYONE))
        elif scheme == "auth":
            expanded = [ACL(entry.perms, Id(s, i)) for s, i in identities if s in _AUTHENTICATED_SCHEMES]
            if not expanded:
                raise InvalidACL("auth scheme without an authenticated identity")
            fixed.extend(expanded)
        elif _is_valid_id(scheme, ident):
            fixed.append(ACL(entry.perms, Id(scheme, ident)))
        else:
            raise InvalidACL("invalid ACL id %s:%s" % (scheme, ident))
    return tuple(dict.fromkeys(fixed))


def _matches(scheme, held, wanted):
    if scheme == "ip":
        network = _parse_ip_acl(wanted)
        try:
            return network is not None and ipaddress.ip_address(held) in network
        except ValueError:
            return False
    return held == wanted


def allowed(acl, perm, identities):
    """True iff a caller with ``identities`` holds ``perm`` on a node with ``acl``."""
    if not acl:
        return True
    for scheme, _ in identities:
        if scheme == "super":
            return True
    for entry in acl:
        if entry.perms & perm:
            eid = entry.id
            if eid.scheme == "world" and eid.id == "anyone":
                return True
            for scheme, held in identities:
                if scheme == eid.scheme and _matches(scheme, held, eid.id):
                    return True
    return False


def masked_for_reader(acl):
    """getACL without ADMIN: digest hashes are hidden (``user:x``)."""
    return [ACL(e.perms, Id("digest", e.id.id.split(":", 1)[0] + ":x")) if e.id.scheme == "digest" else e
            for e in acl]


def user_name(scheme, ident):
    """The ``user`` whoAmI reports for an identity."""
    if scheme == "digest":
        return ident.split(":", 1)[0]
    if scheme in ("ip", "sasl", "x509"):
        return ident
    return ""
