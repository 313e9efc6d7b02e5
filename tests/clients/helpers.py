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
    import random

    for _attempt in range(40):  # a client reconnecting at once wins often: jitter breaks the tie
        if _reattach_and_close(host, port, session_id, passwd, timeout_s):
            return
        time.sleep(random.uniform(0.02, 0.2))
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


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 in front of one server that can cut a client off right after a
    chosen request has reached the server, so the request is applied but its reply never
    arrives: the "outcome unknown" case of connection loss, made deterministic.

    ``cut_after(pattern)`` arms it: the next client-to-server chunk containing ``pattern`` is
    forwarded, then the client's socket is closed at once; the server side is drained for a
    moment (so the server processes the request rather than seeing a reset) and closed.  The
    client then reconnects through the proxy with the same session.  ``cuts`` counts the cuts.
    """

    DRAIN_S = 0.5

    def __init__(self, host: str, port: int) -> None:
        import socket
        import threading

        self._upstream = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.hosts = f"127.0.0.1:{self.port}"
        self._pattern = None
        self._blocked = False
        self._lock = threading.Lock()
        self._closing = False
        self._sockets = []
        self._threads = []
        self.cuts = 0
        self._spawn(self._accept_loop)

    def cut_after(self, pattern: bytes) -> None:
        with self._lock:
            self._pattern = pattern

    def block(self) -> None:
        """Cut every client off and refuse new connections until ``unblock``: a client behind
        the proxy cannot win its session back while ``expire_session`` closes it."""
        with self._lock:
            self._blocked = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _close_quietly(sock)

    def unblock(self) -> None:
        with self._lock:
            self._blocked = False

    def close(self) -> None:
        self._closing = True
        for sock in [self._listener] + self._sockets:
            _close_quietly(sock)
        for thread in self._threads:
            thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _spawn(self, target, *args) -> None:
        import threading

        thread = threading.Thread(target=target, args=args, daemon=True, name="cutting-proxy")
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        import socket

        while not self._closing:
            try:
                downstream, _address = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if self._blocked:
                _close_quietly(downstream)
                continue
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                _close_quietly(downstream)
                continue
            for sock in (downstream, upstream):
                sock.settimeout(0.2)
            with self._lock:
                self._sockets += [downstream, upstream]
            self._spawn(self._pump_requests, downstream, upstream)
            self._spawn(self._pump_replies, upstream, downstream)

    def _pump_requests(self, downstream, upstream) -> None:
        import socket
        import time

        while not self._closing:
            try:
                chunk = downstream.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            with self._lock:
                cut = self._pattern is not None and self._pattern in chunk
                if cut:
                    self._pattern = None
                    self.cuts += 1
            try:
                upstream.sendall(chunk)
            except OSError:
                break
            if cut:
                _close_quietly(downstream)  # the reply, when it comes, has nowhere to go
                time.sleep(self.DRAIN_S)
                break
        _close_quietly(downstream)
        _close_quietly(upstream)

    def _pump_replies(self, upstream, downstream) -> None:
        import socket

        while not self._closing:
            try:
                chunk = upstream.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            try:
                downstream.sendall(chunk)
            except OSError:
                continue  # cut: keep draining the server until the request pump closes it
        _close_quietly(upstream)
        _close_quietly(downstream)


def _close_quietly(sock) -> None:
    import socket

    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
