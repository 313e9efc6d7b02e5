/* One round of the real ZooKeeper C client (libzookeeper_mt, 3.8) against a server: zoo_multi
 * (create/delete/set/check ops), plain create/get/set/delete, an ephemeral, and watches.
 *
 *   multi_round <hosts> <base>
 *
 * <base> is an existing persistent node the round works under. Every result is printed to stdout
 * as one machine-checkable line (KEY fields...); tests/interop/test_multi_clients.py asserts on
 * them. The program checks nothing itself; a call that should not fail but does prints
 * "ERROR ..." and ends the run with exit status 1. Every wait is bounded.
 */
/* The synchronous API (zoo_multi, zoo_get, ...) is declared only for the multi-threaded library. */
#define THREADED

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zookeeper/zookeeper.h>

#define WAIT_S 20
#define SESSION_TIMEOUT_MS 10000
#define MAX_EVENTS 16
#define PATH_MAX_LEN 1024

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int connected = 0;

struct event {
    int type;
    int state;
    char path[PATH_MAX_LEN];
};
static struct event events[MAX_EVENTS];
static int events_queued = 0; /* written by the completion thread */
static int events_taken = 0;

static zhandle_t *zh;
static char base[PATH_MAX_LEN / 2];

static void out(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void fail(const char *what, int rc) {
    out("ERROR %s rc=%d (%s)", what, rc, zerror(rc));
    zookeeper_close(zh);
    exit(1);
}

static void check(const char *what, int rc) {
    if (rc != ZOK) fail(what, rc);
}

static const char *path_of(char *buf, const char *suffix) {
    snprintf(buf, PATH_MAX_LEN, "%s%s", base, suffix);
    return buf;
}

static const char *event_name(int type) {
    if (type == ZOO_CREATED_EVENT) return "NodeCreated";
    if (type == ZOO_DELETED_EVENT) return "NodeDeleted";
    if (type == ZOO_CHANGED_EVENT) return "NodeDataChanged";
    if (type == ZOO_CHILD_EVENT) return "NodeChildrenChanged";
    if (type == ZOO_SESSION_EVENT) return "None";
    if (type == ZOO_NOTWATCHING_EVENT) return "DataWatchRemoved";
    return "Unknown";
}

static const char *state_name(int state) {
    if (state == ZOO_CONNECTED_STATE) return "SyncConnected";
    if (state == ZOO_CONNECTING_STATE) return "Disconnected";
    if (state == ZOO_EXPIRED_SESSION_STATE) return "Expired";
    if (state == ZOO_AUTH_FAILED_STATE) return "AuthFailed";
    return "Other";
}

static void deadline_in(struct timespec *ts, int seconds) {
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += seconds;
}

/* The session watcher: connection state only. */
static void session_watcher(zhandle_t *h, int type, int state, const char *path, void *ctx) {
    (void)h; (void)path; (void)ctx;
    if (type == ZOO_SESSION_EVENT && state == ZOO_CONNECTED_STATE) {
        pthread_mutex_lock(&lock);
        connected = 1;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
    }
}

/* The watcher object given to zoo_wget / zoo_wexists / zoo_wget_children: queues node events. */
static void node_watcher(zhandle_t *h, int type, int state, const char *path, void *ctx) {
    (void)h; (void)ctx;
    pthread_mutex_lock(&lock);
    if (events_queued < MAX_EVENTS) {
        events[events_queued].type = type;
        events[events_queued].state = state;
        snprintf(events[events_queued].path, PATH_MAX_LEN, "%s", path ? path : "(null)");
        events_queued++;
    }
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

static void await_event(const char *expected_path) {
    struct timespec ts;
    int rc = 0;
    deadline_in(&ts, WAIT_S);
    pthread_mutex_lock(&lock);
    while (events_taken >= events_queued && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&cond, &lock, &ts);
    if (events_taken < events_queued) {
        struct event *e = &events[events_taken++];
        out("WATCH %s %s %s", event_name(e->type), e->path, state_name(e->state));
    } else {
        out("WATCH_TIMEOUT %s", expected_path);
    }
    pthread_mutex_unlock(&lock);
}

/* "0,-101,-2": the err of each op of a multi. */
static void print_codes(const char *key, int rc, int count, const zoo_op_result_t *results) {
    char line[256];
    int n = snprintf(line, sizeof line, "%s rc=%d results=", key, rc);
    for (int i = 0; i < count; i++)
        n += snprintf(line + n, sizeof line - n, "%s%d", i ? "," : "", results[i].err);
    out("%s", line);
}

static void round_trip(void) {
    char p1[PATH_MAX_LEN], p2[PATH_MAX_LEN], p3[PATH_MAX_LEN], p4[PATH_MAX_LEN];
    char created1[PATH_MAX_LEN], created2[PATH_MAX_LEN];
    struct Stat set_stat, stat;
    zoo_op_t ops[4];
    zoo_op_result_t results[4];
    int rc;

    /* --- a multi that succeeds: all four ops in one transaction --- */
    memset(results, 0, sizeof results);
    zoo_create_op_init(&ops[0], path_of(p1, "/m"), "parent", 6, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
                       created1, sizeof created1);
    zoo_create_op_init(&ops[1], path_of(p2, "/m/c"), "c0", 2, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
                       created2, sizeof created2);
    zoo_set_op_init(&ops[2], p2, "c1", 2, 0, &set_stat);
    zoo_check_op_init(&ops[3], p2, 1);
    rc = zoo_multi(zh, 4, ops, results);
    if (rc == ZOK)
        out("MULTI_OK rc=0 create:%s create:%s setData:%d:0x%llx check:%d", created1, created2,
            set_stat.version, (unsigned long long)set_stat.mzxid, results[3].err);
    else
        print_codes("MULTI_OK", rc, 4, results);

    /* --- multis that fail: nothing applied, per-op error codes --- */
    memset(results, 0, sizeof results);
    zoo_create_op_init(&ops[0], path_of(p1, "/fail-created"), "x", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
                       created1, sizeof created1);
    zoo_delete_op_init(&ops[1], path_of(p3, "/missing"), -1);
    zoo_set_op_init(&ops[2], p2, "never", 5, -1, &set_stat);
    rc = zoo_multi(zh, 3, ops, results);
    print_codes("MULTI_FAIL", rc, 3, results);

    memset(results, 0, sizeof results);
    zoo_create_op_init(&ops[0], p1, "x", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, created1, sizeof created1);
    zoo_check_op_init(&ops[1], p2, 99);
    zoo_delete_op_init(&ops[2], p2, -1);
    rc = zoo_multi(zh, 3, ops, results);
    print_codes("MULTI_BADVERSION", rc, 3, results);

    {
        char buf[64];
        int len = sizeof buf - 1;
        check("zoo_get after failed multis", zoo_get(zh, p2, 0, buf, &len, &stat));
        buf[len < 0 ? 0 : len] = '\0';
        rc = zoo_exists(zh, p1, 0, NULL);
        out("AFTER_FAIL %s exists=%s", buf, rc == ZOK ? "true" : rc == ZNONODE ? "false" : "error");
    }

    /* --- plain operations --- */
    {
        char buf[64];
        int len = sizeof buf - 1;
        check("zoo_create plain", zoo_create(zh, path_of(p1, "/plain"), "a", 1, &ZOO_OPEN_ACL_UNSAFE,
                                             ZOO_PERSISTENT, created1, sizeof created1));
        out("CREATE %s", created1);
        check("zoo_get plain", zoo_get(zh, p1, 0, buf, &len, &stat));
        buf[len < 0 ? 0 : len] = '\0';
        out("GET %s %d", buf, stat.version);
        check("zoo_set2 plain", zoo_set2(zh, p1, "b", 1, 0, &stat));
        out("SET %d", stat.version);
        out("SET_STALE %d", zoo_set(zh, p1, "c", 1, 0));
        check("zoo_delete plain", zoo_delete(zh, p1, 1));
        out("DELETE %s", p1);
        out("EXISTS_AFTER_DELETE %d", zoo_exists(zh, p1, 0, NULL));
        len = sizeof buf - 1;
        out("GET_MISSING %d", zoo_get(zh, p1, 0, buf, &len, NULL));
    }

    /* --- an ephemeral node: owned by this session --- */
    check("zoo_create ephemeral", zoo_create(zh, path_of(p1, "/eph"), "e", 1, &ZOO_OPEN_ACL_UNSAFE,
                                             ZOO_EPHEMERAL, created1, sizeof created1));
    check("zoo_exists ephemeral", zoo_exists(zh, created1, 0, &stat));
    out("EPHEMERAL %s owner=0x%llx", created1, (unsigned long long)stat.ephemeralOwner);

    /* --- watches: data, exists (creation), children --- */
    {
        char buf[64];
        int len = sizeof buf - 1;
        struct String_vector children;
        check("zoo_create watched", zoo_create(zh, path_of(p1, "/watched"), "w0", 2, &ZOO_OPEN_ACL_UNSAFE,
                                               ZOO_PERSISTENT, NULL, 0));
        check("zoo_wget", zoo_wget(zh, p1, node_watcher, NULL, buf, &len, NULL));
        buf[len < 0 ? 0 : len] = '\0';
        out("GET_WATCHED %s", buf);
        check("zoo_set watched", zoo_set(zh, p1, "w1", 2, -1));
        await_event(p1);

        out("EXISTS_WATCHED %d", zoo_wexists(zh, path_of(p4, "/born"), node_watcher, NULL, NULL));
        check("zoo_create born", zoo_create(zh, p4, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0));
        await_event(p4);

        memset(&children, 0, sizeof children);
        check("zoo_wget_children", zoo_wget_children(zh, p4, node_watcher, NULL, &children));
        out("CHILDREN_WATCHED %d", children.count);
        deallocate_String_vector(&children);
        check("zoo_create kid", zoo_create(zh, path_of(p3, "/born/kid"), "", 0, &ZOO_OPEN_ACL_UNSAFE,
                                           ZOO_PERSISTENT, NULL, 0));
        await_event(p4);
    }

    /* a round trip after the last write: any stray extra notification arrives before its reply */
    check("zoo_exists base", zoo_exists(zh, base, 0, NULL));
    pthread_mutex_lock(&lock);
    out("EXTRA_EVENTS %d", events_queued - events_taken);
    pthread_mutex_unlock(&lock);
    out("DONE");
}

int main(int argc, char **argv) {
    struct timespec ts;
    int rc;
    if (argc != 3) {
        fprintf(stderr, "usage: multi_round <hosts> <base>\n");
        return 2;
    }
    snprintf(base, sizeof base, "%s", argv[2]);
    zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
    zoo_set_log_stream(stderr);
    zh = zookeeper_init(argv[1], session_watcher, SESSION_TIMEOUT_MS, NULL, NULL, 0);
    if (zh == NULL) {
        out("ERROR zookeeper_init errno=%d", errno);
        return 1;
    }
    deadline_in(&ts, WAIT_S);
    rc = 0;
    pthread_mutex_lock(&lock);
    while (!connected && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&cond, &lock, &ts);
    pthread_mutex_unlock(&lock);
    if (!connected) {
        out("ERROR not connected within %d s", WAIT_S);
        zookeeper_close(zh);
        return 1;
    }
    out("CONNECTED 0x%llx", (unsigned long long)zoo_client_id(zh)->client_id);
    round_trip();
    rc = zookeeper_close(zh);
    out("CLOSED rc=%d", rc);
    return 0;
}
