"""Bounded waiting for the client tests: poll a condition until it holds or a deadline passes."""

import time


def wait_until(condition, timeout_s: float = 20.0, interval_s: float = 0.02, what: str = ""):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not true within {timeout_s} s: {what or condition}")
        time.sleep(interval_s)


def expire_session(host: str, port: int, session_id: int, passwd: bytes, timeout_s: float = 10.0):
    """End a session from outside, as a second client would: reattach to it with its id and
    password and close it, both in one write.  The owner, disconnected by the reattach, may win
    the session back first (then the server drops our connection): try again, a bounded number
    of times."""
    for _attempt in range(10):
        if _reattach_and_close(host, port, session_id, passwd, timeout_s):
            return
        time.sleep(0.1)
    raise AssertionError(f"could not close session {session_id:#x} from outside")


def _reattach_and_close(host, port, session_id, passwd, timeout_s) -> bool:
    import socket

    from coord.protocol.client_conn import ClientConnection, ClientConnectionState

    conn = ClientConnection()
    data = conn.connect(0, 10000, session_id, passwd) + conn.close()[1]
    deadline = time.monotonic() + timeout_s
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(data)
        while conn.state is not ClientConnectionState.CLOSED:
            if time.monotonic() >= deadline:
                return False
            chunk = sock.recv(65536)
            if not chunk:
                return False
            conn.receive_data(chunk)
    return True
