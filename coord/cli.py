"""The ``coord`` command.

    coord server [--config zoo.cfg] [--port N] [--data-dir DIR] ...   run a coord server
    coord ensemble [--size 3] [--dir coord-ensemble] [--port 2181]    a local ensemble
    coord import-zookeeper | export-zookeeper | data dump ...          docs/migration.md
    coord config check zoo.cfg [--myid N]      what `coord server` would make of a zoo.cfg
    coord shell [--server HOST:PORT,...] [-c CMD]   an interactive shell like zkCli.sh
    coord bench [calibrate | compare] ...                             docs/benchmarks.md
"""

import argparse
import sys

from coord import __version__
from coord.config import ConfigError, load
from coord.bench import cli as bench_cli
from coord.migration import cli as migration_cli


def _server_parser(sub):
    p = sub.add_parser("server", help="run a coord server (flags override the config file)")
    p.add_argument("--config", help="a ZooKeeper zoo.cfg (the keys that apply are honoured)")
    p.add_argument("--host", help="address to listen on (clientPortAddress; default 0.0.0.0)")
    p.add_argument("--port", type=int, help="client port (clientPort; default 2181)")
    p.add_argument("--data-dir", help="snapshots and epoch (dataDir; default ./coord-data)")
    p.add_argument("--data-log-dir", help="write-ahead log location (dataLogDir; default data dir)")
    p.add_argument("--tick-ms", type=int, help="tick length (tickTime; default 2000)")
    p.add_argument("--min-session-timeout-ms", type=int, help="default 2 x tick")
    p.add_argument("--max-session-timeout-ms", type=int, help="default 20 x tick")
    p.add_argument("--reaper-interval-ms", type=int,
                   help="how often empty containers and expired TTL nodes are deleted (default 60000)")
    p.add_argument("--snapshot-every-txns", type=int,
                   help="about this many transactions between snapshots (snapCount; default 100000)")
    p.add_argument("--snapshot-retain-count", type=int, help="snapshots kept (default 3)")
    p.add_argument("--4lw-whitelist", dest="four_letter_words",
                   help="comma-separated four-letter words to answer, or '*' for all")
    p.add_argument("--max-client-connections", type=int,
                   help="per client address, 0 = unlimited (maxClientCnxns; default 60)")
    p.add_argument("--max-frame-bytes", type=int,
                   help="largest request frame accepted (jute.maxbuffer; default 1048575)")
    p.add_argument("--linearizable-reads", action="store_true", default=None,
                   help="every read waits for a quorum-confirmed read index (coord.linearizableReads)")
    p.add_argument("--read-only-mode", action="store_true", default=None,
                   help="a member cut off from its quorum serves read-only clients "
                        "(readonlymode.enabled)")
    p.add_argument("--log-format", choices=("text", "json"),
                   help="log lines as readable text (default) or JSON objects (coord.logFormat)")
    p.add_argument("--metrics-port", type=int,
                   help="serve Prometheus metrics at /metrics on this port (metricsProvider.httpPort)")
    p.add_argument("--admin-port", type=int,
                   help="serve ZooKeeper's AdminServer JSON on this port (admin.serverPort)")
    p.add_argument("--super-digest", help="'super:<base64 sha1>' granting a super user")
    p.add_argument("--no-extended-types", dest="extended_types", action="store_false", default=None,
                   help="refuse TTL nodes (Unimplemented), like ZooKeeper without extendedTypesEnabled")
    return p


def main(argv=None):
    parser = argparse.ArgumentParser(prog="coord", description="coord: a ZooKeeper-compatible "
                                     "coordination service")
    parser.add_argument("--version", action="version", version="coord " + __version__)
    sub = parser.add_subparsers(dest="command", required=True)
    _server_parser(sub)
    e = sub.add_parser("ensemble", help="run an ensemble of coord members on this machine "
                       "(Ctrl-C stops them all)")
    e.add_argument("--size", type=int, default=3, help="number of members (default 3)")
    e.add_argument("--dir", default="coord-ensemble",
                   help="folder for every member's config, data and log (default ./coord-ensemble)")
    e.add_argument("--port", type=int, default=2181,
                   help="client port of member 1; member N uses port + N - 1 (default 2181)")
    e.add_argument("--peer-port", type=int, default=2888,
                   help="peer port of member 1; member N uses peer-port + N - 1 (default 2888)")
    e.add_argument("--host", default="127.0.0.1", help="address every member binds (default 127.0.0.1)")
    migration_cli.add_parsers(sub)
    _config_parser(sub)
    _shell_parser(sub)
    bench_cli.add_parsers(sub)
    args = parser.parse_args(argv)
    if args.command == "server":
        return run_server(args)
    if args.command == "ensemble":
        from coord.local_ensemble import run
        return run(args.dir, args.size, args.port, args.peer_port, args.host)
    if args.command in migration_cli.COMMANDS:
        return migration_cli.run(args)
    if args.command == "config":
        from coord.config_check import run
        return run(args.file, args.myid)
    if args.command == "shell":
        from clients.shell.main import run
        return run(args.server, args.command_text, args.timeout)
    if args.command in bench_cli.COMMANDS:
        return bench_cli.run(args)
    return 2


def _config_parser(sub):
    c = sub.add_parser("config", help="check a zoo.cfg").add_subparsers(dest="config_command",
                                                                        required=True)
    p = c.add_parser("check", help="validate a zoo.cfg as `coord server` reads it: the honoured "
                     "keys with the value coord will use, the ignored ones; exit 1 on a bad value")
    p.add_argument("file", help="the zoo.cfg")
    p.add_argument("--myid", type=int,
                   help="this member's id (default: read from dataDir/myid when there are server.N lines)")


def _shell_parser(sub):
    p = sub.add_parser("shell", help="an interactive shell like zkCli.sh (coord or ZooKeeper)")
    p.add_argument("--server", default="127.0.0.1:2181",
                   help="connect string, HOST:PORT[,HOST:PORT...][/chroot] (default 127.0.0.1:2181)")
    p.add_argument("-c", dest="command_text", metavar="CMD",
                   help="run these commands (one per line) and exit; non-zero if one fails")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="session timeout in seconds (default 30, as zkCli.sh)")


def run_server(args):
    overrides = {k: v for k, v in vars(args).items() if k not in ("command", "config")}
    if overrides.get("four_letter_words") is not None:
        overrides["four_letter_words"] = tuple(
            w.strip() for w in overrides["four_letter_words"].split(",") if w.strip())
    try:
        config = load(args.config, **overrides)
    except ConfigError as e:
        print("coord: %s" % e, file=sys.stderr)
        return 2
    # Twisted is imported only here, so `coord --help` and the pure modules stay light.
    from coord.runtime.service import run
    return run(config)


if __name__ == "__main__":
    sys.exit(main())
