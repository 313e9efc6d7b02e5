"""Client-visible write outage after the leader of a 3-member ensemble is killed or hung.

    python -m benchmarks.failover [--trials 10] [--systems coord,zookeeper] [--faults kill,pause]

For each system (coord, and Apache ZooKeeper 3.8 from Debian's package, started by this script on
this machine with the same test kit) and each fault, every trial:

1. finds the leader and connects a kazoo client to the *followers only* (a client of the victim
   would measure its own reconnect timeout, not the ensemble's failover);
2. injects the fault in the leader: ``kill`` = SIGKILL, ``pause`` = SIGSTOP;
3. from that instant, issues setData in a loop (failed attempts are retried at once) and records
   the time until the first one succeeds: the outage a client sees;
4. heals (restart / SIGCONT) and waits until the ensemble is whole again.

For coord it also prints what the new leader's ``mntr`` says about the election: detection (last
message from the old leader until a member gave up on it), election (until a new leader was
known) and first commit (until the new leader's first entry was applied). ZooKeeper's defaults
(tickTime 2000, syncLimit 5) and coord's (coord.electionTimeoutMs 500) are used as shipped.
"""

import argparse
import statistics
import time

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.retry import KazooRetry

from coord.testing.servers import Ensemble, four_letter_word

OUTAGE_LIMIT_S = 60.0


def connect(hosts):
    client = KazooClient(hosts=hosts, timeout=10,
                         connection_retry=KazooRetry(max_tries=-1, delay=0.01, max_delay=0.05))
    client.start(timeout=30)
    return client


def wait_whole(ensemble, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        modes = [m.mode(timeout_s=1) for m in ensemble.members.values()]
        if sorted(m or "" for m in modes) == ["follower", "follower", "leader"]:
            return
        time.sleep(0.1)
    raise RuntimeError("ensemble did not become whole again: %s" % modes)


def mntr(member):
    text = four_letter_word(member.host, member.port, "mntr", timeout_s=5)
    return dict(line.split("\t", 1) for line in text.strip().split("\n") if "\t" in line)


def trial(ensemble, fault):
    leader = ensemble.leader(timeout_s=30)
    followers = [i for i in ensemble.members if i != leader]
    client = connect(",".join(ensemble.member(i).address for i in followers))
    try:
        client.ensure_path("/failover")
        client.set("/failover", b"warm-up")
        victim = ensemble.member(leader)
        start = time.monotonic()
        if fault == "kill":
            victim.kill()
        else:
            victim.pause()
        while True:
            try:
                client.set("/failover", b"x")
                break
            except KazooException:
                if time.monotonic() - start > OUTAGE_LIMIT_S:
                    raise RuntimeError("no write within %.0f s" % OUTAGE_LIMIT_S)
                time.sleep(0.005)
        outage = time.monotonic() - start
    finally:
        client.stop()
        client.close()
    split = None
    if ensemble.kind == "coord":
        new_leader = ensemble.leader(timeout_s=10)
        if new_leader is not None and new_leader != leader:
            m = mntr(ensemble.member(new_leader))
            split = tuple(int(m.get("zk_last_election_" + k, -1))
                          for k in ("detection_ms", "election_ms", "first_commit_ms"))
    if fault == "kill":
        victim.start()
    else:
        victim.resume()
    wait_whole(ensemble)
    return outage, split


def summary(values):
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
    return statistics.median(values), p90, values[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--systems", default="coord,zookeeper")
    parser.add_argument("--faults", default="kill,pause")
    parser.add_argument("--dir", default="failover-runs")
    args = parser.parse_args()
    results = {}
    for system in args.systems.split(","):
        with Ensemble(system, "%s/%s-%d" % (args.dir, system, int(time.time())), size=3) as ens:
            for fault in args.faults.split(","):
                outages, splits = [], []
                for n in range(args.trials):
                    outage, split = trial(ens, fault)
                    outages.append(outage)
                    if split is not None:
                        splits.append(split)
                    print("%-9s %-5s trial %2d: outage %6.3f s%s" % (
                        system, fault, n + 1, outage,
                        "  (detection %d ms, election %d ms, first commit %d ms)" % split
                        if split else ""), flush=True)
                results[(system, fault)] = (outages, splits)
    print()
    print("%-9s %-5s %8s %8s %8s   %s" % ("system", "fault", "p50 s", "p90 s", "max s",
                                         "coord split p50 (detection/election/first commit ms)"))
    for (system, fault), (outages, splits) in results.items():
        p50, p90, worst = summary(outages)
        split = ""
        if splits:
            split = "%d / %d / %d" % tuple(statistics.median(s[i] for s in splits) for i in range(3))
        print("%-9s %-5s %8.3f %8.3f %8.3f   %s" % (system, fault, p50, p90, worst, split))
    for fault in args.faults.split(","):
        if ("coord", fault) in results and ("zookeeper", fault) in results:
            ratio = (statistics.median(results[("coord", fault)][0])
                     / statistics.median(results[("zookeeper", fault)][0]))
            print("coord / zookeeper p50 outage after %s: %.2fx" % (fault, ratio))


if __name__ == "__main__":
    main()
