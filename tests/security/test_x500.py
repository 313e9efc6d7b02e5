"""x509 ACL ids: certificate subjects rendered as Java's X500Principal.getName() renders them.

The comparison runs Java itself (javax.security.auth.x500.X500Principal, the call ZooKeeper's
X509AuthenticationProvider makes) on names built here with the cryptography package.
"""

import shutil
import subprocess

import pytest
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from coord.auth import x500

N = x509.NameAttribute

NAMES = [
    x509.Name([N(NameOID.COUNTRY_NAME, "DE"), N(NameOID.ORGANIZATION_NAME, "coord"),
               N(NameOID.COMMON_NAME, "client one")]),
    x509.Name([N(NameOID.COMMON_NAME, 'a,b+c=d#e;f"g\\h<i>j')]),
    x509.Name([N(NameOID.COMMON_NAME, " #lead trail ")]),
    x509.Name([N(NameOID.EMAIL_ADDRESS, "bob@example.com"), N(NameOID.COMMON_NAME, "bob")]),
    x509.Name([x509.RelativeDistinguishedName([N(NameOID.COMMON_NAME, "x"),
                                               N(NameOID.ORGANIZATIONAL_UNIT_NAME, "y")])]),
    x509.Name([N(NameOID.DOMAIN_COMPONENT, "org"), N(NameOID.USER_ID, "u1"),
               N(NameOID.STREET_ADDRESS, "Main St"), N(NameOID.LOCALITY_NAME, "Zürich"),
               N(NameOID.STATE_OR_PROVINCE_NAME, "ZH")]),
    x509.Name([N(NameOID.SERIAL_NUMBER, "1234"), N(NameOID.COMMON_NAME, "Ünïcødé ☃")]),
    x509.Name([N(NameOID.COMMON_NAME, "bmp", _ASN1Type.BMPString),
               N(NameOID.ORGANIZATION_NAME, "printable", _ASN1Type.PrintableString)]),
    x509.Name([]),
]

PROBE = """
import javax.security.auth.x500.X500Principal;
import java.io.*;
public class Probe {
  public static void main(String[] a) throws Exception {
    BufferedReader r = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
    PrintStream out = new PrintStream(System.out, true, "UTF-8");
    String line;
    while ((line = r.readLine()) != null) {
      byte[] b = new byte[line.length() / 2];
      for (int i = 0; i < b.length; i++) b[i] = (byte) Integer.parseInt(line.substring(2 * i, 2 * i + 2), 16);
      out.println(new X500Principal(b).getName());
    }
  }
}
"""


def test_known_renderings():
    assert x500.subject_name(NAMES[0].public_bytes()) == "CN=client one,O=coord,C=DE"
    assert x500.subject_name(NAMES[3].public_bytes()) == (
        "CN=bob,1.2.840.113549.1.9.1=#160f626f62406578616d706c652e636f6d")
    assert x500.subject_name(NAMES[4].public_bytes()) == "CN=x+OU=y"
    assert x500.subject_name(x509.Name([]).public_bytes()) == ""


def test_matches_java_x500principal(tmp_path):
    java = shutil.which("java")
    if java is None:
        pytest.skip("no java to compare with")
    (tmp_path / "Probe.java").write_text(PROBE)
    lines = "".join(name.public_bytes().hex() + "\n" for name in NAMES)
    result = subprocess.run([java, "-Xmx64m", str(tmp_path / "Probe.java")], input=lines.encode(),
                            capture_output=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    expected = result.stdout.decode("utf-8").split("\n")[:len(NAMES)]
    assert [x500.subject_name(name.public_bytes()) for name in NAMES] == expected


@pytest.mark.parametrize("der", [b"", b"\x30", b"\x31\x00", b"\x30\x05\x31\x03\x30\x01\x06",
                                 b"\x30\x84\xff\xff\xff\xff"])
def test_malformed_names_raise(der):
    with pytest.raises(x500.BadName):
        x500.subject_name(der)


@pytest.mark.parametrize("text,valid", [
    ("CN=alice,O=coord tests", True),
    ("CN=a\\,b,OU=x+CN=y", True),
    ("1.2.840.113549.1.9.1=#160f626f62406578616d706c652e636f6d", True),
    ("", True),
    ("alice", False),
    ("CN=alice,", False),
    ("=alice", False),
    ("1.2.3=#abc", False),
])
def test_acl_id_validation(text, valid):
    assert x500.is_valid_name(text) is valid
