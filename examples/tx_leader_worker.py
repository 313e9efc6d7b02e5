"""The leader-elected worker on the Twisted client (same election path as leader_worker.py, so
blocking, Twisted and kazoo workers can be mixed):

    python examples/tx_leader_worker.py tx-worker-1 [--hosts 127.0.0.1:2181]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from twisted.internet import defer, task  # noqa: E402

from clients.tx import Client  # noqa: E402


async def run(reactor, args) -> None:
    client = Client(args.hosts, timeout=args.session_timeout, reactor=reactor)
    client.add_listener(lambda state: print(f"[{args.name}] connection state: {state}"))
    await client.start()
    election = client.Election(args.path, args.name)

    async def lead():
        print(f"[{args.name}] elected; contenders: {await election.contenders()}")
        for beat in range(1, args.beats + 1):
            if not client.connected:
                print(f"[{args.name}] connection trouble: resigning")
                return
            print(f"[{args.name}] leading, heartbeat {beat}")
            await task.deferLater(reactor, 1.0, lambda: None)
        print(f"[{args.name}] done after {args.beats} beats: resigning")

    try:
        print(f"[{args.name}] campaigning; in line: {await election.contenders()}")
        await election.run(lead)
    finally:
        await client.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--hosts", default="127.0.0.1:2181")
    parser.add_argument("--path", default="/demo/leader")
    parser.add_argument("--session-timeout", type=float, default=6.0)
    parser.add_argument("--beats", type=int, default=10)
    args = parser.parse_args()
    task.react(lambda reactor: defer.Deferred.fromCoroutine(run(reactor, args)))


if __name__ == "__main__":
    main()
