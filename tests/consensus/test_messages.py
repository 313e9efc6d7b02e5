"""Peer message encoding: every message round-trips; every malformed frame is refused whole."""

from hypothesis import given, settings, strategies as st

import pytest

from coord.consensus.messages import (
    NOOP, NORMAL, Entry, MalformedMessage, Message, MsgType, SnapshotMeta, decode_message,
    encode_message,
)

u63 = st.integers(min_value=0, max_value=2**63 - 1)
member = st.integers(min_value=1, max_value=255)


@st.composite
def messages(draw):
    index = draw(st.integers(min_value=0, max_value=2**40))
    term = draw(u63)
    n = draw(st.integers(min_value=0, max_value=4))
    entries = tuple(Entry(draw(u63), index + 1 + i, draw(st.sampled_from([NOOP, NORMAL])),
                          draw(st.binary(max_size=40))) for i in range(n))
    snapshot = draw(st.none() | st.builds(
        SnapshotMeta, u63, u63, st.lists(member, max_size=7).map(tuple),
        st.lists(member, max_size=3).map(tuple)))
    return Message(draw(st.sampled_from(list(MsgType))), draw(member), draw(member), term,
                   log_term=draw(u63), index=index, entries=entries, commit=draw(u63),
                   reject=draw(st.booleans()), reject_hint=draw(u63),
                   context=draw(st.binary(max_size=30)), snapshot=snapshot,
                   snapshot_data=draw(st.none() | st.binary(max_size=60)))


@settings(max_examples=300, deadline=None)
@given(messages())
def test_round_trip(m):
    assert decode_message(encode_message(m)) == m


@settings(max_examples=300, deadline=None)
@given(messages(), st.data())
def test_truncated_or_extended_frames_are_refused(m, data):
    raw = encode_message(m)
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    with pytest.raises(MalformedMessage):
        decode_message(raw[:cut])
    with pytest.raises(MalformedMessage):
        decode_message(raw + b"\0")


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_decodes_or_is_refused(raw):
    try:
        m = decode_message(raw)
    except MalformedMessage:
        return
    assert encode_message(m) == raw


def test_unknown_type_and_bad_entries_are_refused():
    raw = bytearray(encode_message(Message(MsgType.APPEND, 1, 2, 3)))
    raw[0] = 99
    with pytest.raises(MalformedMessage, match="unknown message type"):
        decode_message(bytes(raw))
    gap = Message(MsgType.APPEND, 1, 2, 3, index=4, entries=(Entry(1, 5), Entry(1, 7)))
    with pytest.raises(MalformedMessage, match="consecutive"):
        decode_message(encode_message(gap))
