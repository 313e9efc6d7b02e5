"""Process-level running: logging, start-up errors, and clean shutdown on SIGTERM / Ctrl-C."""

import sys

from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.logger import (
    FilteringLogObserver, LogLevel, LogLevelFilterPredicate, globalLogBeginner, textFileLogObserver,
)

from coord.storage.format import StorageError


def _start_logging():
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.info)
    observer = FilteringLogObserver(textFileLogObserver(sys.stderr), [predicate])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def run(config):
    """Run a coord server until SIGTERM/SIGINT; returns the process exit status."""
    from twisted.internet import reactor

    from coord.runtime.node import CoordNode

    _start_logging()
    for warning in config.warnings:
        print("coord: warning: %s" % warning, file=sys.stderr)
    node = CoordNode(config, reactor)
    try:
        node.start()
    except StorageError as e:
        print("coord: cannot start: %s" % e, file=sys.stderr)
        return 1
    except (OSError, CannotListenError) as e:
        print("coord: cannot start: %s" % e, file=sys.stderr)
        if node.data_dir is not None:
            node.data_dir.close()
        return 1
    reactor.addSystemEventTrigger("before", "shutdown",
                                  lambda: defer.Deferred.fromCoroutine(node.stop()))
    reactor.run()
    return 0
