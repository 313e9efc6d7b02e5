// An independent check of `coord bench`: the same closed-loop load, driven by Apache ZooKeeper's
// own Java client (its asynchronous API) instead of coord's codec. Built and run by
// benchmarks/java_crosscheck.py; see docs/benchmarks.md ("Cross-check with ZooKeeper's Java client").
//
//   java -cp zookeeper.jar:. ZkAsyncLoad HOST:PORT[,HOST:PORT...] get|set|create CONNECTIONS DEPTH SECONDS WARMUP_SECONDS
//
// Every connection keeps DEPTH requests in flight: each callback sends the next request. getData
// and setData act on one 100-byte znode per run (/zk-async-load/node); create makes persistent
// sequential 100-byte znodes under /zk-async-load/seq and deletes each once its create is
// answered (both count, as coord bench's churn-sequential). Prints one line of JSON.

import java.util.Arrays;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.zookeeper.AsyncCallback;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

public class ZkAsyncLoad {
    static final String ROOT = "/zk-async-load";
    static final String NODE = ROOT + "/node";
    static final String SEQ = ROOT + "/seq";
    static final byte[] DATA = new byte[100];

    static volatile boolean measuring = false;
    static final AtomicBoolean running = new AtomicBoolean(true);
    static final AtomicLong ops = new AtomicLong();
    static final AtomicLong errors = new AtomicLong();
    // Latencies in microseconds, one slot per completed operation in the window (bounded).
    static final int MAX_SAMPLES = 20_000_000;
    static final int[] samples = new int[MAX_SAMPLES];
    static final AtomicLong sampleCount = new AtomicLong();

    static void record(long startNs) {
        if (!measuring) {
            return;
        }
        ops.incrementAndGet();
        long i = sampleCount.getAndIncrement();
        if (i < MAX_SAMPLES) {
            samples[(int) i] = (int) Math.min(Integer.MAX_VALUE, (System.nanoTime() - startNs) / 1000);
        }
    }

    interface Loop {
        void next();
    }

    public static void main(String[] args) throws Exception {
        String hosts = args[0];
        String op = args[1];
        int connections = Integer.parseInt(args[2]);
        int depth = Integer.parseInt(args[3]);
        int seconds = Integer.parseInt(args[4]);
        int warmup = Integer.parseInt(args[5]);
        String[] hostList = hosts.split(",");

        ZooKeeper[] zks = new ZooKeeper[connections];
        for (int c = 0; c < connections; c++) {
            CountDownLatch up = new CountDownLatch(1);
            zks[c] = new ZooKeeper(hostList[c % hostList.length], 30000, event -> {
                if (event.getState() == Watcher.Event.KeeperState.SyncConnected) {
                    up.countDown();
                }
            });
            if (!up.await(30, TimeUnit.SECONDS)) {
                throw new IllegalStateException("no session with " + hostList[c % hostList.length]);
            }
        }
        ZooKeeper admin = zks[0];
        for (String path : new String[] {ROOT, NODE, SEQ}) {
            try {
                admin.create(path, DATA, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            } catch (KeeperException.NodeExistsException e) {
                // left by an earlier run
            }
        }
        for (ZooKeeper zk : zks) {
            zk.sync(ROOT, (rc, path, ctx) -> { }, null);
        }

        for (ZooKeeper zk : zks) {
            for (int d = 0; d < depth; d++) {
                start(zk, op);
            }
        }
        Thread.sleep(warmup * 1000L);
        measuring = true;
        long t0 = System.nanoTime();
        Thread.sleep(seconds * 1000L);
        measuring = false;
        double window = (System.nanoTime() - t0) / 1e9;
        running.set(false);

        int n = (int) Math.min(sampleCount.get(), MAX_SAMPLES);
        int[] lat = Arrays.copyOf(samples, n);
        Arrays.sort(lat);
        System.out.printf("{\"client\": \"ZooKeeper Java client %s\", \"op\": \"%s\", \"connections\": %d, \"depth\": %d, "
                + "\"window_s\": %.3f, \"ops\": %d, \"ops_per_s\": %.1f, \"errors\": %d, "
                + "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"p999_ms\": %.3f, \"max_ms\": %.3f}%n",
                org.apache.zookeeper.Version.getFullVersion().split(" ")[0], op, connections, depth,
                window, ops.get(), ops.get() / window, errors.get(),
                pct(lat, 0.50), pct(lat, 0.99), pct(lat, 0.999), n == 0 ? 0.0 : lat[n - 1] / 1000.0);
        System.out.flush();
        for (ZooKeeper zk : zks) {
            try {
                zk.close(2000);
            } catch (Exception e) {
                // closing is best effort; the numbers are out
            }
        }
        System.exit(0);
    }

    static double pct(int[] sorted, double q) {
        if (sorted.length == 0) {
            return 0.0;
        }
        int i = (int) Math.min(sorted.length - 1, Math.floor(q * sorted.length));
        return sorted[i] / 1000.0;
    }

    static void start(ZooKeeper zk, String op) {
        switch (op) {
            case "get": get(zk); break;
            case "set": set(zk); break;
            case "create": create(zk); break;
            default: throw new IllegalArgumentException("op must be get, set or create: " + op);
        }
    }

    static void get(ZooKeeper zk) {
        if (!running.get()) {
            return;
        }
        final long t = System.nanoTime();
        zk.getData(NODE, false, (AsyncCallback.DataCallback) (rc, path, ctx, data, stat) -> {
            if (rc != 0) {
                errors.incrementAndGet();
            } else {
                record(t);
            }
            get(zk);
        }, null);
    }

    static void set(ZooKeeper zk) {
        if (!running.get()) {
            return;
        }
        final long t = System.nanoTime();
        zk.setData(NODE, DATA, -1, (AsyncCallback.StatCallback) (rc, path, ctx, stat) -> {
            if (rc != 0) {
                errors.incrementAndGet();
            } else {
                record(t);
            }
            set(zk);
        }, null);
    }

    static void create(ZooKeeper zk) {
        if (!running.get()) {
            return;
        }
        final long t = System.nanoTime();
        zk.create(SEQ + "/n-", DATA, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_SEQUENTIAL,
                (AsyncCallback.StringCallback) (rc, path, ctx, name) -> {
                    if (rc != 0) {
                        errors.incrementAndGet();
                        create(zk);
                        return;
                    }
                    record(t);
                    final long td = System.nanoTime();
                    zk.delete(name, -1, (AsyncCallback.VoidCallback) (rc2, path2, ctx2) -> {
                        if (rc2 != 0) {
                            errors.incrementAndGet();
                        } else {
                            record(td);
                        }
                        create(zk);
                    }, null);
                }, null);
    }
}
