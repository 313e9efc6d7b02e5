"""Arguments of ``coord import-zookeeper``, ``coord export-zookeeper`` and ``coord data dump``."""

import sys
import time

COMMANDS = ("import-zookeeper", "export-zookeeper", "data")


def add_parsers(sub) -> None:
    p = sub.add_parser("import-zookeeper", help="build a coord data dir from a stopped ZooKeeper's")
    p.add_argument("--from", dest="zk_dir", required=True,
                   help="ZooKeeper's dataDir (the version-2/ folder or its parent)")
    p.add_argument("--from-log-dir", dest="zk_log_dir",
                   help="ZooKeeper's dataLogDir, when the logs are not under --from")
    p.add_argument("--data-dir", required=True, help="the coord data dir to create (must not exist or be empty)")
    p.add_argument("--verify", action="store_true",
                   help="read the result back as a server start would, and compare, before committing "
                        "it (costs about a coord server start)")
    p.add_argument("--quiet", action="store_true", help="print only warnings and errors")

    p = sub.add_parser("export-zookeeper", help="write a ZooKeeper data dir from a stopped coord's")
    p.add_argument("--data-dir", required=True, help="the coord data dir")
    p.add_argument("--data-log-dir", help="the coord log dir, when it is not under --data-dir")
    p.add_argument("--to", dest="zk_dir", required=True,
                   help="ZooKeeper dataDir to write (its version-2/ must not exist or be empty)")
    p.add_argument("--compression", choices=("none", "gz", "snappy"), default="none",
                   help="as ZooKeeper's snapshot.compression.method (default none)")
    p.add_argument("--quiet", action="store_true", help="print only warnings and errors")

    p = sub.add_parser("data", help="inspect data directories")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    d = data_sub.add_parser("dump", help="print a coord or ZooKeeper data dir without a server")
    d.add_argument("dir", help="a coord data dir, or a ZooKeeper dataDir (or its version-2/)")
    d.add_argument("--log-dir", help="the log dir, when it is not under DIR")
    d.add_argument("--log", action="store_true", help="print the log records instead of the tree")
    d.add_argument("--data", action="store_true", help="print each znode's data (base64)")
    d.add_argument("--json", action="store_true", help="one JSON object per line")


def run(args) -> int:
    from coord.migration import commands, zkformat
    from coord.storage.format import StorageError

    def warn(message):
        print("coord: warning: " + message, file=sys.stderr)

    started = time.monotonic()

    def progress(message):
        if not getattr(args, "quiet", False):
            print(f"coord: [{time.monotonic() - started:6.1f} s] {message}", file=sys.stderr)

    try:
        if args.command == "import-zookeeper":
            print(commands.import_zookeeper(args.zk_dir, args.data_dir, args.zk_log_dir,
                                            warn=warn, progress=progress, verify=args.verify))
        elif args.command == "export-zookeeper":
            compression = "" if args.compression == "none" else args.compression
            print(commands.export_zookeeper(args.data_dir, args.zk_dir, args.data_log_dir,
                                            compression=compression, warn=warn, progress=progress))
        else:
            commands.dump(args.dir, args.log_dir, show_log=args.log, as_json=args.json,
                          with_data=args.data, warn=lambda m: print(m, file=sys.stderr))
    except (commands.MigrationError, zkformat.ZooKeeperFormatError, StorageError, OSError) as e:
        print(f"coord: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    return 0
