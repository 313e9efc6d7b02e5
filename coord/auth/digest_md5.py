"""The server side of SASL DIGEST-MD5 (RFC 2831), as ZooKeeper runs it. Pure: bytes in, bytes out.

ZooKeeper creates Java's DIGEST-MD5 server with protocol ``zookeeper`` and server name
``zk-sasl-md5`` (clients use that fixed name as the host of their digest-uri), offers only the
``auth`` quality of protection, and takes passwords from the ``user_<name>`` options of its JAAS
``Server`` section. The exchange, one token per ``SetSASL`` request:

1. the client sends an empty token; the server answers a challenge (realm, nonce, qop, charset,
   algorithm=md5-sess);
2. the client answers with username, cnonce, nc, digest-uri and its response hash; the server
   checks it and answers ``rspauth=...``, proving it knew the password too. Authentication is
   complete and the authorization id is the user name (ZooKeeper authorizes whatever authzid the
   client asks for but names the connection after the authenticated user).

Anything else — an unknown user, a wrong password, a replayed or foreign nonce, a token after
completion — raises ``SaslFailure``; the caller answers AuthFailed and closes, as ZooKeeper does.
"""

import hashlib
import hmac
import os

PROTOCOL = "zookeeper"
SERVER_NAME = "zk-sasl-md5"
MAX_RESPONSE_BYTES = 4096      # Java's DigestMD5Server refuses longer responses


class SaslFailure(Exception):
    """The client failed to authenticate; the message says why (for the server's log only)."""


def parse_directives(data):
    """``key=value,key="quoted, \\"value\\""`` -> {key: bytes}; a repeated key is an error."""
    directives = {}
    pos, n = 0, len(data)
    while pos < n:
        while pos < n and data[pos] in b" \t\r\n,":
            pos += 1
        if pos >= n:
            break
        eq = data.find(b"=", pos)
        if eq < 0:
            raise SaslFailure("directive without a value")
        key = data[pos:eq].strip().decode("ascii", "replace").lower()
        pos = eq + 1
        while pos < n and data[pos] in b" \t":
            pos += 1
        value = bytearray()
        if pos < n and data[pos] == 0x22:      # a quoted-string, with backslash escapes
            pos += 1
            while True:
                if pos >= n:
                    raise SaslFailure("unterminated quoted string")
                byte = data[pos]
                if byte == 0x5C and pos + 1 < n:
                    value.append(data[pos + 1])
                    pos += 2
                    continue
                pos += 1
                if byte == 0x22:
                    break
                value.append(byte)
        else:
            end = data.find(b",", pos)
            end = n if end < 0 else end
            value += data[pos:end].strip()
            pos = end
        if key in directives:
            raise SaslFailure("directive %r given twice" % key)
        directives[key] = bytes(value)
    return directives


def _text_bytes(text, utf8):
    # RFC 2831 2.1.2.1: with charset=utf-8, strings that fit ISO 8859-1 are hashed in it anyway.
    if not utf8:
        return text.encode("latin-1")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _hex_md5(data):
    return hashlib.md5(data).hexdigest().encode("ascii")


def response_hash(username, realm, password, nonce, cnonce, nc, qop, digest_uri, authzid, utf8,
                  for_server):
    """RFC 2831 2.1.2.1 ``response-value`` (``for_server``: the ``rspauth`` one, A2 without
    ``AUTHENTICATE``)."""
    secret = hashlib.md5(_text_bytes(username, utf8) + b":" + _text_bytes(realm, utf8) + b":"
                         + _text_bytes(password, utf8)).digest()
    a1 = secret + b":" + nonce + b":" + cnonce
    if authzid:
        a1 += b":" + authzid
    a2 = (b"" if for_server else b"AUTHENTICATE") + b":" + digest_uri
    return _hex_md5(_hex_md5(a1) + b":" + nonce + b":" + nc + b":" + cnonce + b":" + qop
                    + b":" + _hex_md5(a2))


class DigestMD5Server:
    """One connection's DIGEST-MD5 exchange. ``users``: name -> password."""

    def __init__(self, users, random_bytes=os.urandom, realm=SERVER_NAME):
        self._users = users
        self._random_bytes = random_bytes
        self.realm = realm
        self._nonce = None
        self.complete = False
        self.authorization_id = None

    def evaluate(self, token):
        """The server's answer to the client's ``token``; raises SaslFailure."""
        if self.complete:
            raise SaslFailure("authentication already complete")
        if len(token) > MAX_RESPONSE_BYTES:
            raise SaslFailure("a %d-byte response" % len(token))
        if self._nonce is None:
            if token:
                raise SaslFailure("DIGEST-MD5 has no initial response")
            self._nonce = self._random_bytes(24).hex().encode("ascii")
            return (b'realm="' + self.realm.encode("utf-8") + b'",nonce="' + self._nonce
                    + b'",qop="auth",charset=utf-8,algorithm=md5-sess')
        return self._check(parse_directives(token))

    def _check(self, d):
        for key in ("username", "nonce", "cnonce", "nc", "response", "digest-uri"):
            if key not in d:
                raise SaslFailure("the response has no %s" % key)
        charset = d.get("charset")
        if charset is not None and charset.lower() != b"utf-8":
            raise SaslFailure("charset %r" % charset)
        utf8 = charset is not None
        encoding = "utf-8" if utf8 else "latin-1"
        try:
            username = d["username"].decode(encoding)
            realm = d.get("realm", b"").decode(encoding)
        except UnicodeDecodeError:
            raise SaslFailure("username or realm is not %s" % encoding) from None
        qop = d.get("qop", b"auth")
        if qop != b"auth":
            raise SaslFailure("qop %r was not offered" % qop)
        if realm and realm != self.realm:
            raise SaslFailure("realm %r was not offered" % realm)
        if not hmac.compare_digest(d["nonce"], self._nonce):
            raise SaslFailure("the nonce is not the one we sent")
        try:
            nc = int(d["nc"], 16)
        except ValueError:
            raise SaslFailure("nc %r is not a hex number" % d["nc"]) from None
        if nc != 1:
            raise SaslFailure("nonce count %d (only one authentication per nonce)" % nc)
        serv_type, _, host = d["digest-uri"].decode("utf-8", "replace").partition("/")
        host = host.split("/")[0]
        if serv_type != PROTOCOL or host.lower() != SERVER_NAME:
            raise SaslFailure("digest-uri %r is not %s/%s" % (d["digest-uri"], PROTOCOL, SERVER_NAME))
        password = self._users.get(username)
        if password is None:
            # Spend the same work as for a known user: whether a name exists stays unseen.
            password = "\0" + self._nonce.decode("ascii")
            known = False
        else:
            known = True
        args = (username, realm, password, d["nonce"], d["cnonce"], d["nc"], qop,
                d["digest-uri"], d.get("authzid"), utf8)
        expected = response_hash(*args, for_server=False)
        if not hmac.compare_digest(expected, d["response"].lower()) or not known:
            raise SaslFailure("user %r: %s" % (username, "wrong password" if known else "unknown user"))
        self.complete = True
        self.authorization_id = username
        return b"rspauth=" + response_hash(*args, for_server=True)
