"""The DIGEST-MD5 server (RFC 2831) on its own: the RFC's worked example, pure-sasl (kazoo's
SASL library) as the client, and every way a response can be wrong."""

import pytest
import puresasl.client

from coord.auth.digest_md5 import DigestMD5Server, SaslFailure, parse_directives, response_hash

USERS = {"jaasuser": "jaas_password", "zoë": "pässwörd"}


def test_rfc2831_example():
    # RFC 2831 section 4: chris / secret at elwood.innosoft.com, IMAP.
    args = ("chris", "elwood.innosoft.com", "secret", b"OA6MG9tEQGm2hh", b"OA6MHXh6VqTrRk",
            b"00000001", b"auth", b"imap/elwood.innosoft.com", None, False)
    assert response_hash(*args, for_server=False) == b"d388dad90d4bbd760a152321f2143af7"
    assert response_hash(*args, for_server=True) == b"ea40f60335c427b5527b84dbabcdfffd"


def run_puresasl(server, username, password):
    client = puresasl.client.SASLClient(host="zk-sasl-md5", service="zookeeper",
                                        mechanism="DIGEST-MD5", username=username,
                                        password=password)
    challenge = None
    for _ in range(5):
        response = client.process(challenge=challenge)
        if client.complete:
            return
        challenge = server.evaluate(response or b"")
    raise AssertionError("no completion in 5 rounds")


def test_puresasl_client_logs_in_and_checks_rspauth():
    server = DigestMD5Server(USERS)
    run_puresasl(server, "jaasuser", "jaas_password")
    assert server.complete and server.authorization_id == "jaasuser"
    with pytest.raises(SaslFailure, match="already complete"):
        server.evaluate(b"")


@pytest.mark.parametrize("username,password,reason", [
    ("jaasuser", "wrong", "wrong password"),
    ("nobody", "jaas_password", "unknown user"),
])
def test_wrong_credentials(username, password, reason):
    server = DigestMD5Server(USERS)
    with pytest.raises(SaslFailure, match=reason):
        run_puresasl(server, username, password)
    assert not server.complete and server.authorization_id is None


def client_response(challenge, username="jaasuser", password="jaas_password", drop=(),
                    **overrides):
    d = parse_directives(challenge)
    fields = {"username": username, "realm": "zk-sasl-md5", "nonce": d["nonce"].decode(),
              "cnonce": "c0ffee", "nc": "00000001", "qop": "auth",
              "digest-uri": "zookeeper/zk-sasl-md5", "charset": "utf-8"}
    fields.update(overrides)
    digest = response_hash(username, fields["realm"], password, fields["nonce"].encode(),
                           fields["cnonce"].encode(), fields["nc"].encode(),
                           fields["qop"].encode(), fields["digest-uri"].encode(),
                           fields.get("authzid", "").encode() or None, True, for_server=False)
    fields.setdefault("response", digest.decode())
    for key in drop:
        del fields[key]
    return ",".join('%s="%s"' % (k, v) if k not in ("nc", "qop", "charset", "response") else
                    "%s=%s" % (k, v) for k, v in fields.items() if v is not None).encode("utf-8")


def test_a_hand_built_response_succeeds_with_authzid_and_utf8_names():
    server = DigestMD5Server(USERS)
    token = client_response(server.evaluate(b""), username="zoë", password="pässwörd",
                            authzid="someone-else")
    assert server.evaluate(token).startswith(b"rspauth=")
    assert server.authorization_id == "zoë"   # ZooKeeper names the authenticated user


@pytest.mark.parametrize("overrides,reason", [
    ({"nonce": "not-ours"}, "nonce"),
    ({"nc": "00000002"}, "nonce count"),
    ({"digest-uri": "imap/zk-sasl-md5"}, "digest-uri"),
    ({"realm": "elsewhere"}, "realm"),
    ({"qop": "auth-conf"}, "qop"),
    ({"charset": "latin-1"}, "charset"),
    ({"response": "0" * 32}, "wrong password"),
    ({"drop": ("cnonce",)}, "no cnonce"),
    ({"drop": ("username",)}, "no username"),
])
def test_bad_responses(overrides, reason):
    server = DigestMD5Server(USERS)
    token = client_response(server.evaluate(b""), **overrides)
    with pytest.raises(SaslFailure, match=reason):
        server.evaluate(token)


def test_initial_response_and_oversized_or_malformed_tokens_fail():
    with pytest.raises(SaslFailure, match="initial response"):
        DigestMD5Server(USERS).evaluate(b"username=x")
    server = DigestMD5Server(USERS)
    server.evaluate(b"")
    with pytest.raises(SaslFailure, match="byte response"):
        server.evaluate(b"x" * 5000)
    for garbage, reason in ((b'username="unterminated', "unterminated"),
                            (b"novalue", "without a value"), (b"a=1,a=2", "twice")):
        fresh = DigestMD5Server(USERS)
        fresh.evaluate(b"")
        with pytest.raises(SaslFailure, match=reason):
            fresh.evaluate(garbage)


def test_parse_directives_unquotes_and_unescapes():
    assert parse_directives(b'a="x\\"y, z" , b=2,c=') == {"a": b'x"y, z', "b": b"2", "c": b""}
