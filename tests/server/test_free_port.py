"""free_port, which every server in the suite listens on: it must not be a port the kernel may
hand to an outgoing connection meanwhile (CI once failed with "Address already in use" that way)."""

import socket

from coord.testing.servers import LOCALHOST, _ephemeral_port_range, free_port


def test_ports_are_below_the_ephemeral_range_distinct_and_bindable():
    low, _ = _ephemeral_port_range()
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= port < low for port in ports)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCALHOST, ports[-1]))


def test_a_port_in_use_is_never_handed_out():
    held = []
    try:
        for _ in range(50):
            port = free_port()
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOCALHOST, port))
            s.listen()
            held.append(s)
        in_use = {s.getsockname()[1] for s in held}
        assert not in_use & {free_port() for _ in range(200)}
    finally:
        for s in held:
            s.close()
