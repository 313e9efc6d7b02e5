"""What the four-letter words report about this process and its disk, read from the OS."""

import os
import platform
import sys


def _dir_size(path):
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass   # removed while we walked (a purged segment)
    return total


def _user_name():
    try:
        import pwd
        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return os.environ.get("USER", "")


class ProcessFacts:
    def __init__(self, snapshot_dir=None, log_dir=None):
        self.snapshot_dir = snapshot_dir
        self.log_dir = log_dir

    def data_dir_sizes(self):
        """(bytes of snapshots, bytes of log), as ZooKeeper's dataDirSize / dataLogSize."""
        return (_dir_size(self.snapshot_dir) if self.snapshot_dir else 0,
                _dir_size(self.log_dir) if self.log_dir else 0)

    def last_snapshot(self):
        """(zxid, mtime in seconds) of the newest snapshot file, or (-1, -1) without one."""
        if not self.snapshot_dir:
            return -1, -1
        from coord.storage.snapshots import list_snapshots
        try:
            found = list_snapshots(self.snapshot_dir)
            if found:
                zxid, path = found[0]
                return zxid, int(os.path.getmtime(path))
        except OSError:
            pass   # the directory or the file went away meanwhile (purged)
        return -1, -1

    def file_descriptors(self):
        """(open, limit); -1 where the platform cannot tell."""
        try:
            open_fds = len(os.listdir("/proc/self/fd"))
        except OSError:
            open_fds = -1
        try:
            import resource
            max_fds = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        except (ImportError, ValueError):
            max_fds = -1
        return open_fds, max_fds

    def environment(self):
        return [
            ("host.name", platform.node()),
            ("python.version", sys.version.split()[0]),
            ("python.implementation", platform.python_implementation()),
            ("os.name", platform.system()),
            ("os.arch", platform.machine()),
            ("os.version", platform.release()),
            ("user.name", _user_name()),
            ("user.home", os.path.expanduser("~")),
            ("user.dir", os.getcwd()),
        ]

    def memory(self):
        """ZooKeeper's os.memory.* environment entries, for this process: resident (total),
        the address-space limit (max) and what is left under it (free)."""
        total = max_bytes = -1
        try:
            with open("/proc/self/statm") as f:
                total = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            pass
        try:
            import resource
            limit = resource.getrlimit(resource.RLIMIT_AS)[0]
            max_bytes = -1 if limit == resource.RLIM_INFINITY else limit
        except (ImportError, ValueError):
            pass
        free = max_bytes - total if max_bytes >= 0 and total >= 0 else -1
        mb = lambda n: "%dMB" % (n // (1024 * 1024)) if n >= 0 else "-1"   # noqa: E731
        return [("os.memory.free", mb(free)), ("os.memory.max", mb(max_bytes)),
                ("os.memory.total", mb(total))]
