"""Build and run the client programs in this directory (MultiRound.java, multi_round.c).

Both are compiled at test time into a scratch directory, against Debian's ZooKeeper 3.8 client
libraries: the Java one with ``javac`` against ``zookeeper.jar`` (whose manifest Class-Path names
jute, netty, slf4j-api, ...), the C one with ``gcc`` against ``libzookeeper_mt`` (headers from
``libzookeeper-mt-dev``). Each ``*_unavailable_reason`` says what is missing, or None.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import List, Optional

from coord.testing.servers import JAVA_SHARE, ZOOKEEPER_JAR, zookeeper_unavailable_reason

CLIENTS_DIR = Path(__file__).resolve().parent
JAVA_SOURCE = CLIENTS_DIR / "MultiRound.java"
JAVA_MAIN = "MultiRound"
C_SOURCE = CLIENTS_DIR / "multi_round.c"
C_HEADER = Path("/usr/include/zookeeper/zookeeper.h")
COMPILE_TIMEOUT_S = 120.0

# What the client needs at run time: zookeeper.jar brings the rest through its manifest; slf4j-simple
# (when present) makes the client's own warnings readable on stderr instead of slf4j's NOP notice.
JAVA_CLIENT_JARS = (ZOOKEEPER_JAR, JAVA_SHARE / "zookeeper-jute.jar", JAVA_SHARE / "slf4j-api.jar")
JAVA_LOG_JARS = (JAVA_SHARE / "slf4j-simple.jar",)
JAVA_FLAGS = (
    "-Xmx64m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",  # a short run: start fast rather than optimise
    "-Djava.net.preferIPv4Stack=true",
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
)


def _jdk_tool(name: str) -> Optional[str]:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.access(os.path.join(java_home, "bin", name), os.X_OK):
        return os.path.join(java_home, "bin", name)
    return shutil.which(name)


def java_unavailable_reason() -> Optional[str]:
    reason = zookeeper_unavailable_reason()  # java and the ZooKeeper jars
    if reason is not None:
        return reason
    if _jdk_tool("javac") is None:
        return "no `javac` on PATH (a JDK is needed to build MultiRound.java; Debian: default-jdk-headless)"
    return None


def c_unavailable_reason() -> Optional[str]:
    if shutil.which("gcc") is None:
        return "no `gcc` on PATH (needed to build multi_round.c; Debian: gcc)"
    if not C_HEADER.is_file():
        return f"the ZooKeeper C client headers are not installed: no {C_HEADER} (Debian: libzookeeper-mt-dev)"
    return None


def _classpath(*first: Path) -> str:
    entries = [str(p) for p in first] + [str(jar) for jar in JAVA_CLIENT_JARS]
    entries += [str(jar) for jar in JAVA_LOG_JARS if jar.is_file()]
    return os.pathsep.join(entries)


def _compile(argv: List[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
    if result.returncode != 0:
        raise AssertionError(f"compiling failed ({result.returncode}): {argv}\n{result.stdout}{result.stderr}")


def compile_java(out_dir: Path) -> List[str]:
    """Compile MultiRound.java into ``out_dir``; return the command prefix that runs it (add hosts, base)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # -implicit:none and an empty -sourcepath: compile only our file, not sources found in jars
    _compile([_jdk_tool("javac"), "-implicit:none", "-sourcepath", "", "-cp", _classpath(), "-d", str(out_dir),
              str(JAVA_SOURCE)])
    return [_jdk_tool("java"), *JAVA_FLAGS, "-cp", _classpath(out_dir), JAVA_MAIN]


def compile_c(out_dir: Path) -> List[str]:
    """Compile multi_round.c into ``out_dir``; return the command prefix that runs it (add hosts, base)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    binary = out_dir / "multi_round"
    _compile(["gcc", "-std=gnu99", "-Wall", "-Wextra", "-Werror", "-O1", "-o", str(binary), str(C_SOURCE),
              "-lzookeeper_mt", "-lpthread"])
    return [str(binary)]
