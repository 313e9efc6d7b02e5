"""ShardAllocator demo: start it in three terminals and watch 12 shards spread over the members.

    python -m coord server --port 2181 --data-dir /tmp/coord-demo      # a server
    python examples/shard_allocator_demo.py alice                       # terminals 1, 2, 3
    python examples/shard_allocator_demo.py bob
    python examples/shard_allocator_demo.py carol

Each member prints the shards it serves whenever they change.  One of them is also the elected
coordinator.  Start a member and some shards move to it; stop one with Ctrl-C and its shards move
to the others at once; kill one with kill -9 and they move once its session expires.  A shard is
taken from a member only after that member confirmed it stopped serving it.
"""

import argparse
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from clients.blocking import Client  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--hosts", default="127.0.0.1:2181")
    parser.add_argument("--path", default="/demo/shards")
    parser.add_argument("--shards", type=int, default=12)
    parser.add_argument("--session-timeout", type=float, default=6.0)
    args = parser.parse_args()

    client = Client(args.hosts, timeout=args.session_timeout)
    client.start()

    def on_change(owned, version):
        # A real service would stop serving the shards no longer in `owned` before returning.
        role = " (coordinator)" if allocator.is_coordinator else ""
        shards = ", ".join(map(str, sorted(owned))) or "none"
        print(f"[{args.name}{role}] assignment v{version}: serving shards {shards}", flush=True)

    allocator = client.ShardAllocator(args.path, args.name, args.shards, on_change)
    runner = threading.Thread(target=allocator.run, daemon=True)
    runner.start()
    try:
        while runner.is_alive():
            runner.join(1.0)
    except KeyboardInterrupt:
        allocator.stop()
        runner.join(10)
    finally:
        client.stop()


if __name__ == "__main__":
    main()
