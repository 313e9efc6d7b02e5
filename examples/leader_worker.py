"""A leader-elected worker (blocking client).  Start it in three terminals:

    python -m coord server --port 2181 --data-dir /tmp/coord-demo     # terminal 0: a server
    python examples/leader_worker.py worker-1                          # terminals 1, 2, 3
    python examples/leader_worker.py worker-2
    python examples/leader_worker.py worker-3

One worker is elected and does the work (prints a heartbeat); the others wait in line.  Press
Ctrl-C in the leader's terminal (or kill -9 it: its session then expires after the session
timeout) and the next worker in line takes over.  The same election path works with kazoo's
``client.Election``, so a fleet can mix coord and kazoo workers.
"""

import argparse
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from clients.blocking import Client, State  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--hosts", default="127.0.0.1:2181")
    parser.add_argument("--path", default="/demo/leader")
    parser.add_argument("--session-timeout", type=float, default=6.0)
    args = parser.parse_args()

    client = Client(args.hosts, timeout=args.session_timeout)
    client.start()
    lost = threading.Event()

    def on_state(state):
        print(f"[{args.name}] connection state: {state}", flush=True)
        if state in (State.SUSPENDED, State.LOST):
            lost.set()  # SUSPENDED: we may no longer be leader; stop leading to be safe

    client.add_listener(on_state)
    election = client.Election(args.path, args.name)

    def lead():
        print(f"[{args.name}] elected; contenders: {election.contenders()}", flush=True)
        beat = 0
        while not lost.wait(1.0):
            beat += 1
            print(f"[{args.name}] leading, heartbeat {beat}", flush=True)
        print(f"[{args.name}] connection trouble: resigning", flush=True)

    try:
        while True:
            print(f"[{args.name}] campaigning; in line: {election.contenders()}", flush=True)
            election.run(lead)
            lost.clear()
    except KeyboardInterrupt:
        pass
    finally:
        client.stop()


if __name__ == "__main__":
    main()
