"""The shell's commands on top of the blocking client: one ``Shell`` per session of typing.

``Shell.execute_line`` runs one line and returns its exit status (0, 1, or 127 for an unknown
command); output goes to the ``out``/``err`` streams it was given, as zkCli.sh writes it (results
on stdout, "Created ..." and errors on stderr). Watch events arrive on the client's callback
thread and are printed there, under the same lock as command output; after each command the
shell waits for the callbacks already queued, so the events a command caused are printed before
the next command's output (deterministic scripts). Reading lines, readline and the prompt are in
``clients.shell.main``; words, options and messages in ``syntax`` and ``render``.
"""

from __future__ import annotations

import threading

from coord import __version__
from coord.protocol.codes import CreateMode, OpCode
from coord.protocol.records import (
    ACL,
    CreateRequest,
    CreateTTLRequest,
    GetAllChildrenNumberRequest,
    GetDataRequest,
    GetEphemeralsRequest,
    Id,
)

from .. import errors
from ..blocking import Client
from ..ops import OPEN_ACL_UNSAFE, Call, ZnodeStat
from ..session import State
from . import render
from .syntax import (
    COMMANDS,
    MAX_TTL_MS,
    CommandError,
    int_option,
    parse,
    parse_acl,
    split_words,
    usage,
    usage_text,
    validate_path,
)

CONFIG_NODE = "/zookeeper/config"   # served outside any chroot, as the Java client reads it
CALLBACK_WAIT_S = 2.0


class Quit(Exception):
    """``quit``: the caller stops reading lines."""


class Shell:
    def __init__(self, hosts: str, out, err, *, timeout_s: float = 30.0,
                 print_connection_events: bool = False) -> None:
        self.hosts = hosts
        self.out, self.err = out, err
        self.timeout_s = timeout_s
        self.print_watches = True
        self.print_connection_events = print_connection_events
        self.history: dict[int, str] = {}
        self.count = 0
        self.client: Client | None = None
        self._write_lock = threading.RLock()
        # Set by the terminal loop while it waits for a line: called after output printed from
        # the callback thread (watch and connection events) so the prompt is shown again.
        self.after_async_output = None

    # -- connection -------------------------------------------------------------------------------

    def connect(self, hosts: str | None = None, wait_s: float | None = None) -> None:
        """(Re)connect; with ``wait_s``, wait that long for a session (CommandError if none),
        else connect in the background (commands wait for the session)."""
        self.close()
        self.hosts = hosts or self.hosts
        try:
            client = Client(self.hosts, timeout=self.timeout_s)
        except ValueError as e:            # a malformed connect string
            raise CommandError(str(e)) from None
        client.add_listener(self._on_state)
        self.client = client
        if wait_s is None:
            client.start_async()
            return
        try:
            client.start(timeout=wait_s)
        except errors.ClientTimeoutError:
            self.client = None              # start() has stopped it
            raise CommandError(f"no session with {self.hosts} within {wait_s:g} s") from None

    def close(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            client.stop()

    @property
    def state_name(self) -> str:
        """For the prompt, in the Java client's words."""
        if self.client is None:
            return "CLOSED"
        state = self.client.state
        if state in (State.CONNECTED, State.CONNECTED_READ_ONLY):
            return state.value
        return "CLOSED" if state is State.CLOSED else "CONNECTING"

    def prompt(self) -> str:
        return f"[coord: {self.hosts}({self.state_name}) {self.count}] "

    # -- output -----------------------------------------------------------------------------------

    def _print(self, *lines: str) -> None:
        with self._write_lock:
            for line in lines:
                self.out.write(line + "\n")
            self.out.flush()

    def _print_err(self, *lines: str) -> None:
        with self._write_lock:
            self.out.flush()
            for line in lines:
                self.err.write(line + "\n")
            self.err.flush()

    def _on_event(self, event) -> None:
        if self.print_watches:
            self._print_async(render.event_lines(event.type, event.state, event.path))

    def _on_state(self, state) -> None:
        if self.print_connection_events and self.print_watches:
            self._print_async(render.event_lines("NONE", state.value, None))

    def _print_async(self, lines) -> None:
        with self._write_lock:
            self._print(*lines)
            if self.after_async_output is not None:
                self.after_async_output()

    # -- lines ------------------------------------------------------------------------------------

    def execute_line(self, line: str) -> int:
        """Run one line (recorded in the history); its exit status. Raises Quit on ``quit``."""
        if not line.strip():
            return 0
        self.history[self.count] = line
        try:
            return self._run_words(split_words(line))
        finally:
            self.count += 1

    def _run_words(self, words: list[str]) -> int:
        try:
            self._dispatch(words)
            return 0
        except CommandError as e:
            if e.exit_code == 127:
                self._print_err(usage_text())
            if str(e):
                self._print_err(str(e))
            return e.exit_code
        finally:
            if self.client is not None:
                self.client.wait_for_callbacks(CALLBACK_WAIT_S)

    def _dispatch(self, words: list[str]) -> None:
        parsed = parse(words)
        name, args, options = parsed
        if COMMANDS[name].needs_session and (self.client is None
                                             or self.client.state is State.CLOSED):
            self._print("Not connected")
            raise CommandError("")        # zkCli's only word for it, on stdout
        getattr(self, "cmd_" + name)(args, options)

    # -- commands without a session ---------------------------------------------------------------

    def cmd_quit(self, args, options):
        raise Quit()

    def cmd_history(self, args, options):
        for i in range(max(0, self.count - 10), self.count + 1):
            self._print(f"{i} - {self.history.get(i)}")

    def cmd_redo(self, args, options):
        if len(args) < 2:
            raise CommandError(usage("redo"))
        index = _java_decode(args[1])
        if index is None or not 0 <= index < self.count:
            raise CommandError("Command index out of range")
        line = self.history[index]
        if parse(split_words(line)).name == "redo":
            raise CommandError("No redoing redos")
        self.history[self.count] = line
        self._dispatch(split_words(line))

    def cmd_printwatches(self, args, options):
        if len(args) == 1:
            self._print("printwatches is " + ("on" if self.print_watches else "off"))
        else:
            self.print_watches = args[1] == "on"

    def cmd_connect(self, args, options):
        self.connect(args[1] if len(args) > 1 else None, wait_s=self.timeout_s)

    def cmd_close(self, args, options):
        self.close()

    def cmd_version(self, args, options):
        self._print(f"coord CLI version: {__version__}")

    # -- reads ------------------------------------------------------------------------------------

    def cmd_ls(self, args, options):
        if len(args) > 2:                 # zkCli's deprecated "ls path watch"
            self._print_err("'ls path [watch]' has been deprecated. "
                            "Please use 'ls [-w] path' instead.")
            options["w"] = True
        if len(args) < 2:
            raise CommandError(usage("ls"))
        path = self._path(args[1])
        watch = self._on_event if options.get("w") else None
        if options.get("R"):
            self._request(path, self._execute, self._get_call(path, watch))
            self._print(path)
            self._print_subtree(path, watch)
            return
        if options.get("s"):
            children, stat = self._request(path, self.client.get_children, path, watch, True)
            self._print(render.children_line(children), *render.stat_lines(stat))
        else:
            self._print(render.children_line(
                self._request(path, self.client.get_children, path, watch)))

    def _print_subtree(self, path, watch):
        """ZKUtil.visitSubTreeDFS: a node's sorted children, then each child's subtree."""
        try:
            children = sorted(self.client.get_children(path, watch))
        except errors.NoNodeError:
            return                        # deleted while we walked
        except errors.CoordClientError as e:
            raise CommandError(render.error_message(e, path)) from None
        child_paths = [("" if path == "/" else path) + "/" + child for child in children]
        for child_path in child_paths:
            self._print(child_path)
        for child_path in child_paths:
            self._print_subtree(child_path, watch)

    def cmd_get(self, args, options):
        if len(args) > 2:
            self._print_err("'get path [watch]' has been deprecated. "
                            "Please use 'get [-s] [-w] path' instead.")
            options["w"] = True
        path = self._path(args[1])
        watch = self._on_event if options.get("w") else None
        data, stat = self._request(path, self._execute, self._get_call(path, watch))
        self._print(render.data_text(data))
        if options.get("s"):
            self._print(*render.stat_lines(stat))

    def _get_call(self, path, watch) -> Call:
        # clients.ops.get answers b"" for a znode without data; zkCli prints those as "null".
        return self.client.ops.get(path, watch)._replace(
            convert=lambda r: (r.data, ZnodeStat(*r.stat)))

    def cmd_stat(self, args, options):
        if len(args) > 2:
            self._print_err("'stat path [watch]' has been deprecated. "
                            "Please use 'stat [-w] path' instead.")
            options["w"] = True
        path = self._path(args[1])
        watch = self._on_event if options.get("w") else None
        stat = self._request(path, self.client.exists, path, watch)
        if stat is None:
            raise CommandError(render.error_message(errors.NoNodeError(), path))
        self._print(*render.stat_lines(stat))

    def cmd_getAcl(self, args, options):
        path = self._path(args[1])
        acl, stat = self._request(path, self.client.get_acls, path)
        self._print(*render.acl_lines(acl))
        if options.get("s"):
            self._print(*render.stat_lines(stat))

    def cmd_sync(self, args, options):
        path = self._path(args[1])
        try:
            self.client.sync(path)
        except errors.ZookeeperError as e:
            self._print(f"Sync has failed. rc={e.code}")
            raise CommandError("") from None
        except errors.CoordClientError as e:
            raise CommandError(render.error_message(e, path)) from None
        self._print("Sync is OK")

    def cmd_config(self, args, options):
        call = Call(OpCode.GET_DATA, GetDataRequest(CONFIG_NODE, False),
                    lambda r: (r.data or b"", ZnodeStat(*r.stat)))
        data, stat = self._request(CONFIG_NODE, self._execute, call)
        self._print(data.decode("utf-8", errors="replace"))
        if options.get("s"):
            self._print(*render.stat_lines(stat))

    def cmd_getEphemerals(self, args, options):
        path = self._path(args[1]) if len(args) > 1 else "/"
        ops = self.client.ops
        call = Call(OpCode.GET_EPHEMERALS, GetEphemeralsRequest(ops.server_path(path)),
                    lambda r: [ops.client_path(p) for p in r.ephemerals or []])
        self._print("[" + ", ".join(self._request(path, self._execute, call)) + "]")

    def cmd_getAllChildrenNumber(self, args, options):
        path = self._path(args[1])
        call = Call(OpCode.GET_ALL_CHILDREN_NUMBER,
                    GetAllChildrenNumberRequest(self.client.ops.server_path(path)),
                    lambda r: r.total_number)
        self._print(str(self._request(path, self._execute, call)))

    def cmd_whoami(self, args, options):
        call = Call(OpCode.WHO_AM_I, None, lambda r: list(r.client_info or []))
        infos = self._request(None, self._execute, call)
        self._print("Auth scheme: User", *[f"{i.auth_scheme}: {i.user}" for i in infos])

    # -- writes -----------------------------------------------------------------------------------

    def cmd_create(self, args, options):
        ephemeral, sequential = bool(options.get("e")), bool(options.get("s"))
        container, ttl_text = bool(options.get("c")), options.get("t")
        if container and (ephemeral or sequential):
            raise CommandError("-c cannot be combined with -s or -e. "
                               "Containers cannot be ephemeral or sequential.")
        ttl = int_option(ttl_text, "-t argument must be a long value") if ttl_text else 0
        if ttl_text is not None and ephemeral:
            raise CommandError("TTLs cannot be used with Ephemeral znodes")
        if ttl_text is not None and container:
            raise CommandError("TTLs cannot be used with Container znodes")
        if ttl_text is not None and not 0 < ttl <= MAX_TTL_MS:
            raise CommandError(f"ttl must be positive and cannot be larger than: {MAX_TTL_MS}")
        path = args[1]
        data = args[2].encode("utf-8") if len(args) > 2 else None
        acl = self._acl(args[3]) if len(args) > 3 else OPEN_ACL_UNSAFE
        validate_path(path, sequential)
        ops = self.client.ops
        if ttl_text is not None:
            mode = (CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL if sequential
                    else CreateMode.PERSISTENT_WITH_TTL)
            call = Call(OpCode.CREATE_TTL,
                        CreateTTLRequest(ops.server_path(path), data, acl, mode, ttl),
                        lambda r: ops.client_path(r.path))
        elif container:
            call = Call(OpCode.CREATE_CONTAINER,
                        CreateRequest(ops.server_path(path), data, acl, CreateMode.CONTAINER),
                        lambda r: ops.client_path(r.path))
        else:
            call = ops.create(path, data, acl, ephemeral, sequential)
        try:
            created = self._execute(call)
        except errors.InvalidACLError as e:
            self._print_err(render.keeper_message(e.code, path))
            raise CommandError(render.error_message(e, path)) from None
        except errors.CoordClientError as e:
            raise CommandError(render.error_message(e, path)) from None
        self._print_err(f"Created {created}")

    def cmd_set(self, args, options):
        path = self._path(args[1])
        version = int_option(options["v"]) if "v" in options else -1
        stat = self._request(path, self.client.set, path, args[2].encode("utf-8"), version)
        if options.get("s"):
            self._print(*render.stat_lines(stat))

    def cmd_delete(self, args, options):
        if len(args) > 2:
            self._print_err("'delete path [version]' has been deprecated. "
                            "Please use 'delete [-v version] path' instead.")
        path = self._path(args[1])
        version = int_option(options["v"]) if "v" in options else -1
        self._request(path, self.client.delete, path, version)

    def cmd_deleteall(self, args, options):
        batch = int_option(options["b"], "-b argument must be an int value") \
            if "b" in options else 1000
        path = self._path(args[1])
        tree = self._request(path, self._subtree_bfs, path)
        ok = True
        try:
            if batch <= 0:
                for node in reversed(tree):
                    self.client.delete(node)
            else:
                # Deepest first, in multis of ``batch`` deletes; stop at the first that fails.
                nodes = list(reversed(tree))
                for start in range(0, len(nodes), batch):
                    transaction = self.client.transaction()
                    for node in nodes[start:start + batch]:
                        transaction.delete(node)
                    if any(isinstance(r, Exception) for r in transaction.commit()):
                        ok = False
                        break
        except errors.CoordClientError as e:
            raise CommandError(render.error_message(e, path)) from None
        if not ok:
            raise CommandError("Failed to delete some node(s) in the subtree!")

    def _subtree_bfs(self, path):
        """ZKUtil.listSubTreeBFS: the node, then every descendant level by level."""
        tree, index = [path], 0
        while index < len(tree):
            node = tree[index]
            index += 1
            for child in self.client.get_children(node):
                tree.append(("" if node == "/" else node) + "/" + child)
        return tree

    def cmd_setAcl(self, args, options):
        path = self._path(args[1])
        acl = self._acl(args[2])
        version = int_option(options["v"]) if "v" in options else -1
        if not options.get("R"):
            stat = self._request(path, self.client.set_acls, path, acl, version)
            if options.get("s"):
                self._print(*render.stat_lines(stat))
            return
        self._request(path, self._execute, self._get_call(path, None))
        failures = []
        for node in [path] + self._request(path, self._subtree_dfs, path):
            try:
                self.client.set_acls(node, acl, version)
            except errors.ZookeeperError as e:
                failures.append(render.keeper_message(e.code, node))
        if failures:
            raise CommandError("\n".join(failures))

    def _subtree_dfs(self, path):
        """Every descendant in visitSubTreeDFS order (a node's children, then their subtrees)."""
        try:
            children = sorted(self.client.get_children(path))
        except errors.NoNodeError:
            return []
        child_paths = [("" if path == "/" else path) + "/" + child for child in children]
        found = list(child_paths)
        for child_path in child_paths:
            found += self._subtree_dfs(child_path)
        return found

    def cmd_addauth(self, args, options):
        self.client.add_auth(args[1], args[2].encode("utf-8") if len(args) > 2 else b"")

    def cmd_addWatch(self, args, options):
        if len(args) != 2:
            raise CommandError(usage("addWatch"))
        mode = options.get("m", "PERSISTENT_RECURSIVE").upper()
        if mode not in ("PERSISTENT", "PERSISTENT_RECURSIVE"):
            raise CommandError(usage("addWatch"))
        path = self._path(args[1])
        self._request(path, self.client.add_watch, path, self._on_event,
                      mode == "PERSISTENT_RECURSIVE")

    # -- helpers ----------------------------------------------------------------------------------

    def _path(self, path: str) -> str:
        validate_path(path)
        return path

    def _acl(self, text: str) -> list:
        entries, warnings = parse_acl(text)
        if warnings:
            self._print_err(*warnings)
        return [ACL(perms, Id(scheme, ident)) for perms, scheme, ident in entries]

    def _execute(self, call: Call):
        return self.client.run_steps(_one(call))

    def _request(self, path, func, *args):
        """Run one client call; a ZooKeeper error becomes zkCli's message for ``path``."""
        try:
            return func(*args)
        except errors.CoordClientError as e:
            raise CommandError(render.error_message(e, path)) from None

    # -- completion -------------------------------------------------------------------------------

    def completions(self, line_before_cursor: str, text: str) -> list[str]:
        """Candidates for the word being typed: a command name first (with the space after it),
        then znode paths."""
        if not line_before_cursor[:len(line_before_cursor) - len(text)].strip():
            return sorted(name + " " for name in COMMANDS if name.startswith(text))
        if not text.startswith("/") or self.client is None or not self.client.connected:
            return []
        cut = text.rfind("/")
        parent, prefix = text[:cut] or "/", text[cut + 1:]
        try:
            children = self.client.get_children(parent)
        except (errors.CoordClientError, ValueError):
            return []
        base = "" if parent == "/" else parent
        return sorted(f"{base}/{child}" for child in children if child.startswith(prefix))


def _one(call: Call):
    return (yield call)


def _java_decode(text: str) -> int | None:
    """Integer.decode: decimal, 0x hex, # hex, or 0 octal."""
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    try:
        if body[:2].lower() == "0x":
            return sign * int(body[2:], 16)
        if body.startswith("#"):
            return sign * int(body[1:], 16)
        if len(body) > 1 and body.startswith("0"):
            return sign * int(body[1:], 8)
        return sign * int(body, 10)
    except ValueError:
        return None
