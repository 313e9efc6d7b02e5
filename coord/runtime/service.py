"""Process-level running: logging, start-up errors, and clean shutdown on SIGTERM / Ctrl-C."""

import sys

from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.logger import (
    FileLogObserver, FilteringLogObserver, LogLevel, LogLevelFilterPredicate, formatEvent, formatTime,
    Logger, globalLogBeginner,
)

from coord.storage.format import StorageError


def _format(event):
    """One line per event: time, level, message (Twisted's default adds the emitting class)."""
    text = formatEvent(event)
    if not text:
        return None
    failure = event.get("log_failure")
    if failure is not None:
        text += "\n" + failure.getTraceback()
    level = event.get("log_level", LogLevel.info).name.upper()
    return "%s %-5s %s\n" % (formatTime(event.get("log_time")), level, text)


def _start_logging():
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.info)
    observer = FilteringLogObserver(FileLogObserver(sys.stderr, _format), [predicate])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def run(config):
    """Run a coord server until SIGTERM/SIGINT; returns the process exit status."""
    from twisted.internet import reactor

    from coord.runtime.node import CoordNode

    _start_logging()
    log = Logger(namespace="coord")
    for warning in config.warnings:
        log.warn("{warning}", warning=warning)
    for bug in config.planted_bugs:
        log.error("PLANTED BUG {bug} IS ON: this server breaks its guarantees on purpose (a test-only "
                  "switch, coord.plantedBug; see coord/planted_bugs.py). Never run it in production.",
                  bug=bug)
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
