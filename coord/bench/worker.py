"""One load-generator process: its connections, a tight selector loop, no Twisted, no kazoo.

Theory of operation. The parent (``runner``) starts W of these with ``multiprocessing`` (spawn)
and talks to each over a Pipe: the worker connects its share of the connections, runs their setup
requests, says ``ready``; the parent answers ``go`` with a common start time; the worker runs the
warm-up, the measured window and a bounded drain, closes its sessions and sends back its results
(per-label counts, errors, encoded HDR histograms, its own CPU seconds in the window).

The hot loop (``_run_requests``) does per request: a plan lookup, one ``struct.pack`` for length
and xid in front of the pre-encoded tail, a deque append; per reply: one ``unpack_from`` of the
header, a deque pop with an xid check (replies are in request order per connection) and a dict
increment of the latency in microseconds. Sends are batched per connection and per wake-up;
reads take whatever is there (256 KiB at a time). Closed loop keeps ``depth`` requests in flight
per connection; open loop sends on the worker's schedule (``schedule.OpenLoopSchedule``) round-
robin over connections with room, and measures from the intended send time.

Other shapes of load have their own loops: ``_run_fanout`` (watchers armed on one znode, the
parent triggers, each watcher's arrival time is reported) and ``_run_session_churn`` (connect,
handshake, close session, repeat, on non-blocking sockets).
"""

from __future__ import annotations

import collections
import resource
import selectors
import socket
import struct
import time
import traceback

from coord.protocol import records as R
from coord.protocol.codes import Err, OpCode
from coord.protocol.framing import FrameDecoder
from coord.protocol.jute import Reader

from .requests import (
    FRAME_HEAD, REPLY_HEADER, build_plan, close_session_tail, connect_frame, frame, setup_templates,
    template,
)
from .results import LabelStats, histogram_from_counts
from .schedule import OpenLoopSchedule

__all__ = ["worker_main"]

RECV_BYTES = 1 << 18
MAX_XID = (1 << 31) - 1
HANDSHAKE_TIMEOUT_S = 15.0
CLOSE_TIMEOUT_S = 3.0


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def runqueue_wait_s() -> float:
    """Seconds this process was runnable but waiting for a CPU (/proc/self/schedstat, field 2):
    on a shared machine, a generator that is starved rather than busy shows here."""
    try:
        with open("/proc/self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


class BenchError(RuntimeError):
    """The load could not run as asked (refused connection, expired session, protocol error)."""


class _Stats:
    """Per-label counters while running: count, errors, latency_us -> count, first/last times."""

    __slots__ = ("count", "errors", "latencies", "first_send_ns", "last_reply_ns")

    def __init__(self):
        self.count = 0
        self.errors = {}
        self.latencies = {}
        self.first_send_ns = None
        self.last_reply_ns = None

    def to_wire(self) -> dict:
        stats = LabelStats(self.count, dict(self.errors), histogram_from_counts(self.latencies),
                           self.first_send_ns, self.last_reply_ns)
        return stats.to_wire()


class _Conn:
    __slots__ = ("sock", "decoder", "plan", "inflight", "next_xid", "out", "writing", "closed")

    def __init__(self, sock, plan=None):
        self.sock = sock
        self.decoder = FrameDecoder()
        self.plan = plan
        self.inflight = collections.deque()
        self.next_xid = 1
        self.out = bytearray()
        self.writing = False
        self.closed = False


def _recv_frames_blocking(conn: _Conn, want: int, deadline: float) -> list:
    frames = []
    while len(frames) < want:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BenchError("no reply within the handshake timeout")
        conn.sock.settimeout(remaining)
        data = conn.sock.recv(RECV_BYTES)
        if not data:
            raise BenchError("the server closed the connection")
        frames += conn.decoder.feed(data)
    return frames


def open_session(host: str, port: int, timeout_ms: int) -> _Conn:
    """A blocking TCP connect + ConnectRequest/Response; returns the connection, non-blocking."""
    deadline = time.monotonic() + HANDSHAKE_TIMEOUT_S
    sock = socket.create_connection((host, port), timeout=HANDSHAKE_TIMEOUT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = _Conn(sock)
    sock.sendall(connect_frame(timeout_ms))
    (reply,) = _recv_frames_blocking(conn, 1, deadline)
    response = R.ConnectResponse.deserialize(Reader(reply))
    if response.timeout_ms <= 0:
        sock.close()
        raise BenchError(f"{host}:{port} refused the session")
    return conn


def call_blocking(conn: _Conn, tail: bytes, deadline: float) -> tuple:
    """Send one request and wait for its reply (skipping notifications); returns (err, frame)."""
    xid = conn.next_xid
    conn.next_xid += 1
    conn.sock.sendall(frame(xid, tail))
    while True:
        for f in _recv_frames_blocking(conn, 1, deadline):
            rxid, _zxid, err = REPLY_HEADER.unpack_from(f)
            if rxid == xid:
                return err, f
            if rxid >= 0:
                raise BenchError(f"reply xid {rxid} while waiting for {xid}")


def _close_all(conns: list) -> None:
    """CloseSession on every connection, wait (bounded) for the replies, close the sockets."""
    close_tail = close_session_tail()
    pending = []
    for c in conns:
        if c.closed:
            continue
        try:
            c.sock.setblocking(True)
            c.sock.settimeout(CLOSE_TIMEOUT_S)
            c.sock.sendall(frame(c.next_xid, close_tail))
            pending.append(c)
        except OSError:
            c.sock.close()
    deadline = time.monotonic() + CLOSE_TIMEOUT_S
    for c in pending:
        try:
            while time.monotonic() < deadline:
                c.sock.settimeout(max(0.01, deadline - time.monotonic()))
                data = c.sock.recv(RECV_BYTES)
                if not data:
                    break
                if any(REPLY_HEADER.unpack_from(f)[0] == c.next_xid for f in c.decoder.feed(data)):
                    break
        except OSError:
            pass
        finally:
            c.sock.close()
            c.closed = True


# -- the request/reply loop --------------------------------------------------------------------


def _run_requests(job: dict, conns: list, start_ns: int) -> dict:
    mode = job["mode"]  # "closed" | "open" | "finite"
    depth = job["depth"]
    warmup_ns = int(job["warmup_s"] * 1e9)
    measure_start = start_ns + warmup_ns if mode != "finite" else start_ns
    deadline = (measure_start + int(job["duration_s"] * 1e9) if mode != "finite"
                else start_ns + int(job["max_s"] * 1e9))
    drain_deadline = deadline + int(job["drain_s"] * 1e9)
    schedule = OpenLoopSchedule(job["rate"], start_ns) if mode == "open" else None
    stats: dict = collections.defaultdict(_Stats)
    notifications = 0
    pack_head = FRAME_HEAD.pack
    unpack_reply = REPLY_HEADER.unpack_from
    monotonic_ns = time.monotonic_ns
    selector = selectors.DefaultSelector()
    for c in conns:
        c.sock.setblocking(False)
        selector.register(c.sock, selectors.EVENT_READ, c)
    rr = 0  # open loop: next connection to offer a request to
    cpu_at_start = cpu_at_end = None
    wall_start = wall_end = None
    stopping = False

    lost = 0

    def lose(c: _Conn) -> None:
        """The server closed (or reset) ``c``: its requests in flight are errors (ConnectionLoss,
        as a client would see them); the run goes on with the other connections."""
        nonlocal lost, rr
        lost += 1
        now_ns = monotonic_ns()
        for sent_ns, t, _xid in c.inflight:
            if sent_ns >= measure_start and now_ns < deadline:
                s = stats[t.label]
                s.errors[Err.CONNECTION_LOSS] = s.errors.get(Err.CONNECTION_LOSS, 0) + 1
        c.inflight.clear()
        c.plan.stop()
        c.closed = True
        selector.unregister(c.sock)
        c.sock.close()
        conns.remove(c)
        rr = 0

    def write(c: _Conn, data: bytes) -> None:
        if c.out:
            c.out += data
            return
        try:
            n = c.sock.send(data)
        except BlockingIOError:
            n = 0
        except OSError:
            lose(c)
            return
        if n < len(data):
            c.out += data[n:]
            if not c.writing:
                c.writing = True
                selector.modify(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)

    def send_batch(c: _Conn, times: list) -> None:
        """One request per element of ``times`` (the send or intended time recorded for each)."""
        parts = []
        plan = c.plan
        inflight = c.inflight
        xid = c.next_xid
        for t_ns in times:
            t = plan.next_template()
            if t is None:
                break
            tail = t.tail
            parts.append(pack_head(len(tail) + 4, xid))
            parts.append(tail)
            inflight.append((t_ns, t, xid))
            xid = xid + 1 if xid < MAX_XID else 1
        c.next_xid = xid
        if parts:
            write(c, b"".join(parts))

    # Wait for the common start, then fill every pipeline (closed/finite).
    pause = (start_ns - monotonic_ns()) / 1e9
    if pause > 0:
        time.sleep(pause)
    now = monotonic_ns()
    if mode != "open":
        for c in list(conns):  # (a failed write removes its connection from conns)
            send_batch(c, [now] * depth)
    wait_at_start = wait_at_end = 0.0
    if measure_start <= now:
        cpu_at_start, wall_start, wait_at_start = _cpu_s(), now, runqueue_wait_s()
    while True:
        now = monotonic_ns()
        if cpu_at_start is None and now >= measure_start:
            cpu_at_start, wall_start, wait_at_start = _cpu_s(), now, runqueue_wait_s()
        if not stopping and now >= deadline:
            if mode == "finite":
                raise BenchError(f"the sequence did not finish within {job['max_s']} s")
            cpu_at_end, wall_end, wait_at_end = _cpu_s(), now, runqueue_wait_s()
            stopping = True
            for c in conns:
                c.plan.stop()
        if stopping or mode == "finite":
            if all(not c.inflight and c.plan.idle for c in conns):
                break
            if stopping and now >= drain_deadline:
                break
        if schedule is not None and not stopping:
            due = schedule.due(now)
            if due:
                n_conns = len(conns)
                batches: dict = {}
                unplaced = 0
                for t_ns in due:
                    for _ in range(n_conns):
                        c = conns[rr]
                        rr = rr + 1 if rr + 1 < n_conns else 0
                        if len(c.inflight) + len(batches.get(c, ())) < depth:
                            batches.setdefault(c, []).append(t_ns)
                            break
                    else:
                        unplaced = len(due) - sum(len(b) for b in batches.values())
                        break
                # Requests with no room wait for the next turn, keeping their intended time.
                schedule.sent -= unplaced
                for c, times in batches.items():
                    send_batch(c, times)
            timeout = max(0.0, min(0.05, (schedule.next_due_ns() - monotonic_ns()) / 1e9))
        else:
            timeout = 0.05
        if not conns:
            break  # every connection was lost; the errors say so
        for key, events in selector.select(timeout):
            c = key.data
            if c.closed:
                continue
            if events & selectors.EVENT_WRITE:
                try:
                    n = c.sock.send(c.out)
                except BlockingIOError:
                    n = 0
                except OSError:
                    lose(c)
                    continue
                del c.out[:n]
                if not c.out:
                    c.writing = False
                    selector.modify(c.sock, selectors.EVENT_READ, c)
            if not events & selectors.EVENT_READ:
                continue
            try:
                data = c.sock.recv(RECV_BYTES)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                lose(c)
                continue
            frames = c.decoder.feed(data)
            now = monotonic_ns()
            counted = measure_start <= now < deadline
            inflight = c.inflight
            plan = c.plan
            answered = 0
            for f in frames:
                xid, _zxid, err = unpack_reply(f)
                if xid < 0:
                    notifications += 1  # -1 watch event, -2 ping reply: not ours to time
                    continue
                sent_ns, t, expected = inflight.popleft()
                if xid != expected:
                    raise BenchError(f"reply xid {xid}, expected {expected} (out of order)")
                answered += 1
                plan.on_reply(t, err, f)
                if counted and sent_ns >= measure_start:
                    s = stats[t.label]
                    s.count += 1
                    lat = (now - sent_ns) // 1000
                    lats = s.latencies
                    lats[lat] = lats.get(lat, 0) + 1
                    if err:
                        s.errors[err] = s.errors.get(err, 0) + 1
                    if s.first_send_ns is None or sent_ns < s.first_send_ns:
                        s.first_send_ns = sent_ns
                    s.last_reply_ns = now
            if answered and mode != "open":
                send_batch(c, [now] * (depth - len(inflight)))
            elif stopping and mode == "open":
                send_batch(c, [now] * max(0, depth - len(inflight)))
    if cpu_at_end is None:
        cpu_at_end, wall_end, wait_at_end = _cpu_s(), monotonic_ns(), runqueue_wait_s()
    if cpu_at_start is None:
        cpu_at_start, wall_start, wait_at_start = cpu_at_end, wall_end, wait_at_end
    selector.close()
    left = sum(len(c.inflight) for c in conns)
    return {
        "labels": {label: s.to_wire() for label, s in stats.items()},
        "cpu_s": cpu_at_end - cpu_at_start,
        "wall_s": (wall_end - wall_start) / 1e9,
        "runqueue_wait_s": wait_at_end - wait_at_start,
        "connections_lost": lost,
        "notifications": notifications,
        "unanswered_at_end": left,
    }


# -- watch fan-out -----------------------------------------------------------------------------


def _run_fanout(job: dict, conns: list, pipe) -> dict:
    """Arm a data watch per connection on one znode; per round, time each notification's arrival
    and re-arm; the parent triggers rounds and says stop."""
    path = job["watch_path"]
    arm = template("arm", OpCode.GET_DATA, R.GetDataRequest(path, True)).tail
    selector = selectors.DefaultSelector()
    for c in conns:
        c.sock.setblocking(False)
        selector.register(c.sock, selectors.EVENT_READ, c)
    selector.register(pipe, selectors.EVENT_READ, None)
    rounds = []
    cpu_start = _cpu_s()
    wait_start = runqueue_wait_s()
    wall_start = time.monotonic_ns()

    def arm_all():
        for c in conns:
            c.sock.sendall(frame(c.next_xid, arm))
            c.inflight.append(c.next_xid)
            c.next_xid += 1

    arm_all()
    arrivals: dict = {}
    armed_pending = len(conns)
    errors = 0
    bound = time.monotonic() + job["max_s"]
    while True:
        if time.monotonic() > bound:
            raise BenchError("watch fan-out did not finish within its time bound")
        for key, _ in selector.select(0.5):
            if key.data is None:
                message = pipe.recv()
                if message[0] == "stop":
                    selector.close()
                    return {"rounds": rounds, "errors": errors, "cpu_s": _cpu_s() - cpu_start,
                            "wall_s": (time.monotonic_ns() - wall_start) / 1e9,
                            "runqueue_wait_s": runqueue_wait_s() - wait_start}
                continue
            c = key.data
            data = c.sock.recv(RECV_BYTES)
            if not data:
                raise BenchError("the server closed a watcher's connection")
            now = time.monotonic_ns()
            for f in c.decoder.feed(data):
                xid, _zxid, err = REPLY_HEADER.unpack_from(f)
                if xid == -1:
                    arrivals[id(c)] = now
                    c.sock.sendall(frame(c.next_xid, arm))  # re-arm at once
                    c.inflight.append(c.next_xid)
                    c.next_xid += 1
                    armed_pending += 1
                elif xid >= 0:
                    if c.inflight.popleft() != xid:
                        raise BenchError("watcher reply out of order")
                    if err:
                        errors += 1
                    armed_pending -= 1
            if armed_pending == 0 and (len(arrivals) == len(conns) or not rounds and not arrivals):
                if arrivals:
                    rounds.append(sorted(arrivals.values()))
                    arrivals = {}
                pipe.send(("armed", len(rounds)))


# -- session churn -------------------------------------------------------------------------------


def _run_session_churn(job: dict, start_ns: int) -> dict:
    """``connections`` slots per worker, each: TCP connect, ConnectRequest, CloseSession, close."""
    targets = job["targets"]
    slots = len(job["conns"])
    hello = connect_frame(job["session_timeout_ms"])
    close_frame = frame(1, close_session_tail())
    measure_start = start_ns + int(job["warmup_s"] * 1e9)
    deadline = measure_start + int(job["duration_s"] * 1e9)
    stats: dict = collections.defaultdict(_Stats)
    selector = selectors.DefaultSelector()
    linger = struct.pack("ii", 1, 0)  # RST on close: no TIME_WAIT pile-up from thousands of ports

    def start(slot_index):
        host, port = targets[job["conns"][slot_index][0]]
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        sock.connect_ex((host, port))
        state = {"slot": slot_index, "t0": time.monotonic_ns(), "phase": "connect",
                 "decoder": FrameDecoder()}
        selector.register(sock, selectors.EVENT_WRITE, state)

    pause = (start_ns - time.monotonic_ns()) / 1e9
    if pause > 0:
        time.sleep(pause)
    for i in range(slots):
        start(i)
    cpu_at_start = None
    wall_start = None
    wait_start = 0.0
    while True:
        now = time.monotonic_ns()
        if cpu_at_start is None and now >= measure_start:
            cpu_at_start, wall_start, wait_start = _cpu_s(), now, runqueue_wait_s()
        if now >= deadline:
            break
        for key, _ in selector.select(0.05):
            sock, st = key.fileobj, key.data
            now = time.monotonic_ns()
            counted = measure_start <= st["t0"] and now < deadline
            if st["phase"] == "connect":
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise BenchError(f"connect failed: {err}")
                sock.send(hello)
                st["phase"] = "hello"
                selector.modify(sock, selectors.EVENT_READ, st)
                continue
            data = sock.recv(RECV_BYTES)
            frames = st["decoder"].feed(data) if data else []
            if st["phase"] == "hello" and frames:
                response = R.ConnectResponse.deserialize(Reader(frames[0]))
                if counted:
                    s = stats["connect"]
                    s.count += 1
                    lat = (now - st["t0"]) // 1000
                    s.latencies[lat] = s.latencies.get(lat, 0) + 1
                    if response.timeout_ms <= 0:
                        s.errors[Err.SESSION_EXPIRED] = s.errors.get(Err.SESSION_EXPIRED, 0) + 1
                sock.send(close_frame)
                st["phase"] = "close"
                frames = frames[1:]
            if st["phase"] == "close" and (frames or not data):
                if counted:
                    s = stats["session"]
                    s.count += 1
                    lat = (now - st["t0"]) // 1000
                    s.latencies[lat] = s.latencies.get(lat, 0) + 1
                    if not frames:
                        s.errors[Err.CONNECTION_LOSS] = s.errors.get(Err.CONNECTION_LOSS, 0) + 1
                selector.unregister(sock)
                sock.close()
                start(st["slot"])
            elif not data:
                raise BenchError("the server closed a connection during the handshake")
    cpu_at_end = _cpu_s()
    for key in list(selector.get_map().values()):
        key.fileobj.close()
    selector.close()
    return {"labels": {label: s.to_wire() for label, s in stats.items()},
            "cpu_s": cpu_at_end - (cpu_at_start or cpu_at_end),
            "wall_s": (time.monotonic_ns() - (wall_start or time.monotonic_ns())) / 1e9,
            "runqueue_wait_s": runqueue_wait_s() - wait_start if wall_start else 0.0,
            "notifications": 0, "unanswered_at_end": 0}


# -- entry point ---------------------------------------------------------------------------------


def worker_main(job: dict, pipe) -> None:
    """Run one worker's share of a job, talking to the parent over ``pipe`` (see module doc)."""
    conns: list = []
    try:
        kind = job["kind"]
        if kind == "session-churn":
            pipe.send(("ready",))
            _, start_ns = pipe.recv()
            pipe.send(("done", _run_session_churn(job, start_ns)))
            return
        setup_deadline = time.monotonic() + job["setup_timeout_s"]
        for target_index, spec in job["conns"]:
            host, port = job["targets"][target_index]
            c = open_session(host, port, job["session_timeout_ms"])
            conns.append(c)
            if spec is not None:
                for t in setup_templates(spec):
                    err, _f = call_blocking(c, t.tail, setup_deadline)
                    if err not in (0, Err.NODE_EXISTS):
                        raise BenchError(f"setup {t.label} failed with error {err}")
                c.plan = build_plan(spec)
        if kind == "fanout":
            result = _run_fanout(job, conns, pipe)
        else:
            pipe.send(("ready",))
            _, start_ns = pipe.recv()
            result = _run_requests(job, conns, start_ns)
        pipe.send(("done", result))
    except BaseException as e:  # the parent reports it; a worker never dies silently
        try:
            pipe.send(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
        except OSError:
            pass
    finally:
        _close_all(conns)
