"""SASL users from a JAAS login configuration file, the way ZooKeeper servers get them.

ZooKeeper's DIGEST-MD5 users live in the ``Server`` section of the file named by
``java.security.auth.login.config``::

    Server {
        org.apache.zookeeper.server.auth.DigestLoginModule required
        user_bob="bobsecret"
        user_super="supersecret";
    };

Each ``user_<name>="<password>"`` option of a DigestLoginModule entry is one user. Other sections
(``Client``, ``QuorumServer``...) are parsed and skipped; a ``Server`` section whose only login
modules are ones coord cannot run (Kerberos) is an error naming the module.
"""

import re

DIGEST_LOGIN_MODULE = "org.apache.zookeeper.server.auth.DigestLoginModule"

_TOKEN = re.compile(r'''
    \s+ | //[^\n]* | /\*.*?\*/ | \#[^\n]*      # whitespace and comments: skipped
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<punct>[{};=])
  | (?P<word>[^\s{};="]+)
''', re.VERBOSE | re.DOTALL)


class JaasError(ValueError):
    """The file is not a JAAS configuration coord can use; the message says where and why."""


def _tokens(text):
    pos = 0
    line = 1
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise JaasError("line %d: unexpected %r" % (line, text[pos]))
        kind = match.lastgroup
        if kind is not None:
            value = match.group(kind)
            if kind == "string":
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            yield kind, value, line
        line += match.group(0).count("\n")
        pos = match.end()


def parse(text):
    """{section name: [(login module, flag, {option: value}), ...]}; raises JaasError."""
    sections = {}
    tokens = list(_tokens(text))
    i = 0

    def expect(kind, value=None):
        nonlocal i
        if i >= len(tokens):
            raise JaasError("unexpected end of file (expected %s)" % (value or kind))
        tkind, tvalue, tline = tokens[i]
        if tkind != kind or (value is not None and tvalue != value):
            raise JaasError("line %d: expected %s, got %r" % (tline, value or kind, tvalue))
        i += 1
        return tvalue

    while i < len(tokens):
        name = expect("word")
        expect("punct", "{")
        entries = []
        while i < len(tokens) and tokens[i][:2] != ("punct", "}"):
            module = expect("word")
            flag = expect("word")
            options = {}
            while i < len(tokens) and tokens[i][:2] not in (("punct", ";"), ("punct", "}")):
                key = expect("word")
                expect("punct", "=")
                if i >= len(tokens) or tokens[i][0] not in ("string", "word"):
                    raise JaasError("option %s has no value" % key)
                options[key] = tokens[i][1]
                i += 1
            expect("punct", ";")
            entries.append((module, flag, options))
        expect("punct", "}")
        if i < len(tokens) and tokens[i][:2] == ("punct", ";"):
            i += 1
        sections[name] = entries
    return sections


def digest_users(text, section="Server"):
    """{user: password} from the DigestLoginModule entries of ``section``; raises JaasError."""
    sections = parse(text)
    entries = sections.get(section)
    if entries is None:
        raise JaasError("no %s section (it holds the server's SASL users)" % section)
    users = {}
    others = []
    for module, _flag, options in entries:
        if module != DIGEST_LOGIN_MODULE:
            others.append(module)
            continue
        for key, value in options.items():
            if key.startswith("user_") and len(key) > 5:
                users[key[5:]] = value
    if not users:
        if others:
            raise JaasError("the %s section uses %s; coord supports only %s (DIGEST-MD5)"
                            % (section, ", ".join(others), DIGEST_LOGIN_MODULE))
        raise JaasError("the %s section defines no user_<name> option" % section)
    return users
