"""``coord shell``: where lines come from (a terminal with readline, ``-c``, or piped stdin).

Interactive (stdin is a terminal, no ``-c``): a prompt, tab completion of commands and znode
paths, connection events printed as zkCli.sh prints them; the session is opened in the
background, as zkCli does, and commands wait for it. Scripted (``-c "cmds"`` or stdin not a
terminal): one command per line, no prompt and no connection chatter; the session must come up
within the timeout, and the exit status is non-zero when any command failed (the last failure's
status: 1, or 127 for an unknown command) — zkCli.sh reports only the last command's status.
"""

from __future__ import annotations

import sys

from .shell import CommandError, Quit, Shell


def run(server: str, command_text: str | None = None, timeout_s: float = 30.0,
        stdin=None, stdout=None, stderr=None) -> int:
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    if command_text is None and stdin.isatty():
        return _interactive(Shell(server, stdout, stderr, timeout_s=timeout_s,
                                  print_connection_events=True), stdin)
    shell = Shell(server, stdout, stderr, timeout_s=timeout_s)
    lines = command_text.splitlines() if command_text is not None else stdin
    try:
        shell.connect(wait_s=timeout_s)
    except CommandError as e:
        stderr.write(f"coord shell: {e}\n")
        shell.close()
        return 1
    return run_lines(shell, lines)


def run_lines(shell: Shell, lines) -> int:
    """Every line in turn (failures do not stop the script); the last failure's status."""
    status = 0
    try:
        for line in lines:
            try:
                code = shell.execute_line(line.rstrip("\r\n"))
            except Quit:
                break
            status = code or status
    finally:
        shell.close()
    return status


def _interactive(shell: Shell, stdin) -> int:
    readline = _setup_readline(shell)
    shell.out.write(f"Connecting to {shell.hosts}\n")
    shell.out.flush()
    shell.connect()
    status = 0
    try:
        while True:
            prompt = shell.prompt()

            def show_prompt_again():
                buffer = readline.get_line_buffer() if readline is not None else ""
                shell.out.write(shell.prompt() + buffer)
                shell.out.flush()

            shell.after_async_output = show_prompt_again
            try:
                line = input(prompt)
            except EOFError:
                shell.out.write("\n")
                break
            except KeyboardInterrupt:       # Ctrl-C abandons the line, as in a Unix shell
                shell.out.write("^C\n")
                continue
            finally:
                shell.after_async_output = None
            try:
                status = shell.execute_line(line)
            except Quit:
                break
            except KeyboardInterrupt:       # Ctrl-C gives up waiting for a reply
                shell.out.write("^C\n")
                status = 1
    finally:
        shell.close()
    return status


def _setup_readline(shell: Shell) -> None:
    try:
        import readline
    except ImportError:                     # no readline (some builds): plain input()
        return None

    def complete(text, index):
        line = readline.get_line_buffer()[:readline.get_endidx()]
        if index == 0:
            complete.candidates = shell.completions(line, text)
        return complete.candidates[index] if index < len(complete.candidates) else None

    complete.candidates = []
    readline.set_completer_delims(" \t\n")   # a znode path is one word, slashes included
    readline.set_completer(complete)
    if "libedit" in (readline.__doc__ or ""):
        readline.parse_and_bind("bind ^I rl_complete")
    else:
        readline.parse_and_bind("tab: complete")
    return readline
