"""The ``x509`` ACL id of a client certificate: its subject as Java's ``X500Principal.getName()``.

ZooKeeper's X509AuthenticationProvider names a TLS client by
``cert.getSubjectX500Principal().getName()``, an RFC 2253 string. ACLs written for ZooKeeper
must match the same certificate on coord, so this renders the subject's DER bytes the way Java
does: RDNs last-to-first joined by ``,``, the values of a multi-valued RDN joined by ``+``, the
RFC 2253 keywords (CN, C, L, ST, O, OU, STREET, DC, UID) for their attributes and the dotted OID
with ``#`` + the hex DER of the value for every other attribute (emailAddress included), and
Java's escaping of special characters. Pure: it takes bytes, not a certificate object.
"""

_KEYWORDS = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
    "2.5.4.11": "OU", "2.5.4.9": "STREET", "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}

# DER string types rendered as text. Java's RFC 2253 form reads every one of them as UTF-8
# bytes (a BMPString "bmp" comes out as CN=\00b\00m\00p); matching ids need the same quirk.
_STRING_TAGS = frozenset({0x0C, 0x13, 0x14, 0x16, 0x1A, 0x1C, 0x1E})

# Java escapes these anywhere in a value (more than RFC 2253 requires: '=' and '#' too).
_ESCAPED = ',=+<>#;"\\'


class BadName(ValueError):
    """The bytes are not a DER-encoded X.500 Name."""


def _read_tlv(data, pos):
    if pos + 2 > len(data):
        raise BadName("truncated")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise BadName("bad length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise BadName("truncated")
    return tag, pos, end


def _oid(body):
    if not body:
        raise BadName("empty OID")
    arcs = []
    value = 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first] + arcs[1:])


def _escape(text):
    out = []
    for i, ch in enumerate(text):
        if ch in _ESCAPED or (ch == " " and (i == 0 or i == len(text) - 1)):
            out.append("\\" + ch)
        elif ch == "\0":
            out.append("\\00")
        else:
            out.append(ch)
    return "".join(out)


def _render_value(oid, tag, body, raw):
    keyword = _KEYWORDS.get(oid)
    if keyword is None or tag not in _STRING_TAGS:
        return (keyword or oid) + "=#" + raw.hex()
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        return keyword + "=#" + raw.hex()
    return keyword + "=" + _escape(text)


def subject_name(name_der):
    """The RFC 2253 string Java's ``X500Principal.getName()`` gives for a DER-encoded Name."""
    data = memoryview(bytes(name_der))
    tag, pos, end = _read_tlv(data, 0)
    if tag != 0x30 or end != len(data):
        raise BadName("not a SEQUENCE")
    rdns = []
    while pos < end:
        tag, set_pos, set_end = _read_tlv(data, pos)
        if tag != 0x31:
            raise BadName("RDN is not a SET")
        avas = []
        while set_pos < set_end:
            tag, seq_pos, seq_end = _read_tlv(data, set_pos)
            if tag != 0x30:
                raise BadName("attribute is not a SEQUENCE")
            tag, oid_pos, oid_end = _read_tlv(data, seq_pos)
            if tag != 0x06:
                raise BadName("attribute type is not an OID")
            oid = _oid(data[oid_pos:oid_end])
            value_tag, value_pos, value_end = _read_tlv(data, oid_end)
            avas.append(_render_value(oid, value_tag, data[value_pos:value_end],
                                      bytes(data[oid_end:value_end])))
            set_pos = seq_end
        rdns.append("+".join(avas))
        pos = set_end
    return ",".join(reversed(rdns))


def is_valid_name(text):
    """Whether ``text`` parses as an RFC 2253 name (ZooKeeper: ``new X500Principal(id)``):
    comma-separated RDNs of ``type=value`` pairs, with a keyword or dotted OID as the type."""
    if text.strip() == "":
        return True
    for rdn in _split_unescaped(text, ","):
        for ava in _split_unescaped(rdn, "+"):
            attr, sep, value = ava.partition("=")
            attr = attr.strip()
            if not sep or not attr:
                return False
            if not (attr.isalnum() and attr[0].isalpha()) and not _is_dotted_oid(attr):
                return False
            if value.strip().startswith("#"):
                hex_part = value.strip()[1:]
                if len(hex_part) % 2 or not all(c in "0123456789abcdefABCDEF" for c in hex_part):
                    return False
    return True


def _is_dotted_oid(text):
    if text.upper().startswith("OID."):
        text = text[4:]
    parts = text.split(".")
    return len(parts) >= 2 and all(p.isdigit() for p in parts)


def _split_unescaped(text, sep):
    parts, current, escaped, quoted = [], [], False, False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == '"':
            current.append(ch)
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts
