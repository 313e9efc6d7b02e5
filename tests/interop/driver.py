"""Drive an interactive command-line client (zkCli.sh, cli_mt) through pipes, with bounded waits
(and run a one-shot client program to completion: ``run_bounded``).

The client's stdout and stderr are merged and read by a thread into one growing transcript.
``wait_for(pattern, count)`` waits until the transcript holds at least ``count`` matches — order
independent, because the C client prints completions and watch events from different threads.
The process runs in its own process group, which ``close`` always kills if it outlives its bound.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from typing import List, Optional, Sequence


class InteractiveProcess:
    def __init__(self, argv: Sequence[str], *, env: Optional[dict] = None, cwd=None):
        self.argv = list(argv)
        self._transcript = bytearray()
        self._cond = threading.Condition()
        self._eof = False
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        fd = self.proc.stdout.fileno()
        while True:
            chunk = os.read(fd, 65536)
            with self._cond:
                if not chunk:
                    self._eof = True
                    self._cond.notify_all()
                    return
                self._transcript += chunk
                self._cond.notify_all()

    @property
    def transcript(self) -> str:
        with self._cond:
            return self._transcript.decode("utf-8", errors="replace")

    def send(self, line: str) -> None:
        self.proc.stdin.write(line.encode("utf-8") + b"\n")
        self.proc.stdin.flush()

    def wait_for(self, pattern: str, count: int = 1, timeout_s: float = 30.0) -> List[re.Match]:
        """Wait until ``pattern`` (a regex, MULTILINE) matches at least ``count`` times."""
        regex = re.compile(pattern, re.MULTILINE)

        def matches():
            return list(regex.finditer(self._transcript.decode("utf-8", errors="replace")))

        with self._cond:
            ok = self._cond.wait_for(lambda: len(matches()) >= count or self._eof, timeout=timeout_s)
            found = matches()
            if not ok or len(found) < count:
                why = "the process ended" if self._eof else f"{timeout_s} s passed"
                raise AssertionError(
                    f"{why} before {pattern!r} matched {count} time(s) (matched {len(found)}) in the output of "
                    f"{self.argv[0]}:\n{self._transcript.decode('utf-8', errors='replace')}"
                )
            return found

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.transcript, re.MULTILINE))

    def close(self, timeout_s: float = 20.0) -> int:
        """Close stdin, wait (bounded) for exit, kill the process group if needed; return status."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait(timeout=timeout_s)
        self._reader.join(timeout=timeout_s)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def run_bounded(argv: Sequence[str], *, timeout_s: float = 60.0, cwd=None, env: Optional[dict] = None):
    """Run a non-interactive program to completion in its own process group; return the
    ``CompletedProcess`` (stdout and stderr as text). If it outlives ``timeout_s`` the whole group
    is killed and an AssertionError carries whatever it had printed."""
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=env,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        stdout, stderr = proc.communicate(timeout=timeout_s)
        raise AssertionError(
            f"{argv[0]} did not finish within {timeout_s} s; it printed:\n{stdout}\n--- stderr ---\n{stderr}"
        )
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait(timeout=timeout_s)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
