// One round of the real ZooKeeper Java client (3.8) against a server: multi, transaction(),
// multiRead, plain create/get/set/delete, an ephemeral, and watches.
//
//   java -cp <classes>:<zookeeper jars> MultiRound <hosts> <base>
//
// <base> is an existing persistent node the round works under. Every result is printed as one
// machine-checkable line (KEY fields...); tests/interop/test_multi_clients.py asserts on them.
// This program checks nothing itself: what a call returned is printed, and an unexpected
// exception ends the run with "ERROR ..." and exit status 1. Every wait is bounded.

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.Transaction;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

public class MultiRound {
    static final int SESSION_TIMEOUT_MS = 10000;
    static final long WAIT_S = 20;

    static void out(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String str(byte[] b) {
        return b == null ? "null" : new String(b, StandardCharsets.UTF_8);
    }

    static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }

    /** One token per result: create:<path>, setData:<version>:<mzxid>, delete, check, err:<code>, ... */
    static String describe(OpResult r) {
        if (r instanceof OpResult.CreateResult) {
            return "create:" + ((OpResult.CreateResult) r).getPath();
        } else if (r instanceof OpResult.SetDataResult) {
            Stat s = ((OpResult.SetDataResult) r).getStat();
            return "setData:" + s.getVersion() + ":" + hex(s.getMzxid());
        } else if (r instanceof OpResult.DeleteResult) {
            return "delete";
        } else if (r instanceof OpResult.CheckResult) {
            return "check";
        } else if (r instanceof OpResult.GetDataResult) {
            OpResult.GetDataResult g = (OpResult.GetDataResult) r;
            return "getData:" + str(g.getData()) + ":" + g.getStat().getVersion();
        } else if (r instanceof OpResult.GetChildrenResult) {
            List<String> children = new ArrayList<>(((OpResult.GetChildrenResult) r).getChildren());
            java.util.Collections.sort(children);
            return "getChildren:" + String.join(",", children);
        } else if (r instanceof OpResult.ErrorResult) {
            return "err:" + ((OpResult.ErrorResult) r).getErr();
        }
        return "unknown:" + r.getClass().getSimpleName() + ":" + r.getType();
    }

    static String describeAll(List<OpResult> results) {
        List<String> parts = new ArrayList<>();
        for (OpResult r : results) {
            parts.add(describe(r));
        }
        return String.join(" ", parts);
    }

    /** Error codes only, comma separated (0 for an op that succeeded): "0,-101,-2". */
    static String codes(List<OpResult> results) {
        List<String> parts = new ArrayList<>();
        for (OpResult r : results) {
            parts.add(r instanceof OpResult.ErrorResult ? Integer.toString(((OpResult.ErrorResult) r).getErr()) : "ok");
        }
        return String.join(",", parts);
    }

    /** A multi that is expected to fail: prints "<key> thrown=<code> results=<codes>". */
    static void failingMulti(ZooKeeper zk, String key, List<Op> ops) throws InterruptedException {
        try {
            List<OpResult> results = zk.multi(ops);
            out(key + " thrown=none results=" + codes(results));
        } catch (KeeperException e) {
            List<OpResult> results = e.getResults();
            out(key + " thrown=" + e.code().intValue() + " results=" + (results == null ? "null" : codes(results)));
        }
    }

    static void awaitEvent(BlockingQueue<WatchedEvent> events, String expectedPath) throws InterruptedException {
        WatchedEvent e = events.poll(WAIT_S, TimeUnit.SECONDS);
        if (e == null) {
            out("WATCH_TIMEOUT " + expectedPath);
        } else {
            out("WATCH " + e.getType() + " " + e.getPath() + " " + e.getState());
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: MultiRound <hosts> <base>");
            System.exit(2);
        }
        String hosts = args[0];
        String p = args[1];
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(hosts, SESSION_TIMEOUT_MS, event -> {
            if (event.getType() == Watcher.Event.EventType.None
                    && event.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
        });
        int status = 0;
        try {
            if (!connected.await(WAIT_S, TimeUnit.SECONDS)) {
                out("ERROR not connected within " + WAIT_S + " s");
                System.exit(1);
            }
            out("CONNECTED " + hex(zk.getSessionId()));
            round(zk, p);
        } catch (Exception e) {
            out("ERROR " + e);
            e.printStackTrace();
            status = 1;
        } finally {
            zk.close();
            out("CLOSED");
        }
        System.exit(status);
    }

    static void round(ZooKeeper zk, String p) throws Exception {
        // --- a multi that succeeds: all four ops in one transaction ---------------------------
        List<OpResult> ok = zk.multi(Arrays.asList(
                Op.create(p + "/m", bytes("parent"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                Op.create(p + "/m/c", bytes("c0"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                Op.setData(p + "/m/c", bytes("c1"), 0),
                Op.check(p + "/m/c", 1)));
        out("MULTI_OK " + describeAll(ok));

        // --- multis that fail: nothing applied, per-op error codes ---------------------------
        failingMulti(zk, "MULTI_FAIL", Arrays.asList(
                Op.create(p + "/fail-created", bytes("x"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                Op.delete(p + "/missing", -1),
                Op.setData(p + "/m/c", bytes("never"), -1)));
        failingMulti(zk, "MULTI_BADVERSION", Arrays.asList(
                Op.create(p + "/fail-created", bytes("x"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                Op.check(p + "/m/c", 99),
                Op.delete(p + "/m/c", -1)));
        byte[] after = zk.getData(p + "/m/c", false, null);
        out("AFTER_FAIL " + str(after) + " exists=" + (zk.exists(p + "/fail-created", false) != null));

        // --- multiRead (all ops are reads): each op answers on its own -----------------------
        try {
            List<OpResult> reads = zk.multi(Arrays.asList(
                    Op.getData(p + "/m/c"), Op.getChildren(p + "/m"), Op.getData(p + "/missing")));
            out("MULTI_READ thrown=none " + describeAll(reads));
        } catch (KeeperException e) {
            out("MULTI_READ thrown=" + e.code().intValue() + " "
                    + (e.getResults() == null ? "null" : describeAll(e.getResults())));
        }

        // --- the transaction() builder ---------------------------------------------------------
        Transaction txn = zk.transaction();
        txn.create(p + "/txn", bytes("t1"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        txn.setData(p + "/txn", bytes("t2"), 0);
        txn.check(p + "/txn", 1);
        out("TXN_OK " + describeAll(txn.commit()));

        // --- plain operations ------------------------------------------------------------------
        out("CREATE " + zk.create(p + "/plain", bytes("a"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT));
        Stat stat = new Stat();
        byte[] data = zk.getData(p + "/plain", false, stat);
        out("GET " + str(data) + " " + stat.getVersion());
        out("SET " + zk.setData(p + "/plain", bytes("b"), 0).getVersion());
        try {
            zk.setData(p + "/plain", bytes("c"), 0);
            out("SET_STALE none");
        } catch (KeeperException e) {
            out("SET_STALE " + e.code().intValue() + " " + e.getPath());
        }
        zk.delete(p + "/plain", 1);
        out("DELETE " + p + "/plain");
        out("EXISTS_AFTER_DELETE " + zk.exists(p + "/plain", false));
        try {
            zk.getData(p + "/plain", false, null);
            out("GET_MISSING none");
        } catch (KeeperException e) {
            out("GET_MISSING " + e.code().intValue() + " " + e.getPath());
        }

        // --- an ephemeral node: owned by this session ------------------------------------------
        String eph = zk.create(p + "/eph", bytes("e"), Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL);
        out("EPHEMERAL " + eph + " owner=" + hex(zk.exists(eph, false).getEphemeralOwner()));

        // --- watches: data, exists (creation), children --------------------------------------
        BlockingQueue<WatchedEvent> events = new LinkedBlockingQueue<>();
        Watcher watcher = events::add;
        zk.create(p + "/watched", bytes("w0"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        out("GET_WATCHED " + str(zk.getData(p + "/watched", watcher, null)));
        zk.setData(p + "/watched", bytes("w1"), -1);
        awaitEvent(events, p + "/watched");

        out("EXISTS_WATCHED " + zk.exists(p + "/born", watcher));
        zk.create(p + "/born", bytes(""), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        awaitEvent(events, p + "/born");

        out("CHILDREN_WATCHED " + zk.getChildren(p + "/born", watcher));
        zk.create(p + "/born/kid", bytes(""), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        awaitEvent(events, p + "/born");

        // a round trip after the last write: any stray extra notification arrives before its reply
        zk.exists(p, false);
        out("EXTRA_EVENTS " + events.size());
        out("DONE");
    }
}
