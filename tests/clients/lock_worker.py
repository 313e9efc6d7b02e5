"""A lock contender in its own process, for the multi-process recipe tests.

    python -m tests.clients.lock_worker --hosts H --lock /p --counter /c --iterations N
        [--library coord|kazoo] [--hold]

Each iteration takes the lock, reads the counter znode, and writes it back plus one *without* a
version: only mutual exclusion keeps updates from being lost.  ``--hold`` takes the lock once
(and, with ``--election PATH``, also becomes leader there), prints HELD and sleeps until killed.  Prints DONE when finished.
"""

import argparse
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", required=True)
    parser.add_argument("--lock", required=True)
    parser.add_argument("--counter")
    parser.add_argument("--iterations", type=int, default=0)
    parser.add_argument("--library", choices=("coord", "kazoo"), default="coord")
    parser.add_argument("--session-timeout", type=float, default=10.0)
    parser.add_argument("--hold", action="store_true")
    parser.add_argument("--election", help="with --hold: also win this election and stay leader")
    args = parser.parse_args(argv)

    if args.library == "kazoo":
        from kazoo.client import KazooClient

        client = KazooClient(hosts=args.hosts, timeout=args.session_timeout)
    else:
        from clients.blocking import Client

        client = Client(args.hosts, timeout=args.session_timeout)
    client.start(timeout=30)
    lock = client.Lock(args.lock, f"{args.library}-worker")
    if args.hold:
        lock.acquire(timeout=60)
        if args.election:
            def lead():
                print("HELD", flush=True)
                time.sleep(600)

            client.Election(args.election, f"{args.library}-leader").run(lead)
        else:
            print("HELD", flush=True)
            time.sleep(600)
        return 1
    for _ in range(args.iterations):
        with lock:
            value, _stat = client.get(args.counter)
            client.set(args.counter, str(int(value) + 1).encode())
    client.stop()
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
