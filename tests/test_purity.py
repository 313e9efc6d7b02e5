"""The pure cores stay sans-I/O: no sockets, threads, clocks, randomness, OS access, or Twisted.

That is what lets one codec serve the server and the clients, and what lets the tree, sessions and
the request pipeline be tested (and later simulated) in one thread from a seed. Storage modules do
blocking file I/O, but never import Twisted: the runtime calls them from a worker thread.
"""

import ast
import pathlib

import clients
import coord

FORBIDDEN_MODULES = {"twisted", "socket", "threading", "time", "random", "os", "asyncio", "select",
                     "subprocess"}
COORD_DIR = pathlib.Path(coord.__file__).parent
PURE_FILES = sorted(
    list((COORD_DIR / "protocol").glob("*.py"))
    + list((COORD_DIR / "tree").glob("*.py"))
    + list((COORD_DIR / "consensus").glob("*.py"))
    + [COORD_DIR / name for name in ("sessions.py", "server.py", "four_letter_words.py", "monitoring.py",
                                    "admin_commands.py")]
    + [COORD_DIR / "storage" / "format.py"]
    + [COORD_DIR / "migration" / name for name in ("zkformat.py", "convert.py")]
    + [COORD_DIR / "bench" / name for name in ("requests.py", "schedule.py", "results.py",
                                               "workloads.py", "report.py")]
)
# The client core and everything written once for both clients (the drivers, blocking.py, tx.py
# and watchers.py, are the only client modules that touch threads, sockets or Twisted).
CLIENTS_DIR = pathlib.Path(clients.__file__).parent
PURE_CLIENT_FILES = sorted(
    [CLIENTS_DIR / name for name in ("session.py", "ops.py", "steps.py", "retry.py", "errors.py")]
    + list((CLIENTS_DIR / "recipes").glob("*.py"))
    + [CLIENTS_DIR / "shell" / name for name in ("syntax.py", "render.py")]
)


def imported_top_level_modules(source: str) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            modules.add("__import__")  # dynamic imports would dodge this check
    return modules


def test_pure_cores_import_nothing_impure():
    assert len(PURE_FILES) >= 23
    offenders = {
        str(path.relative_to(COORD_DIR)): sorted(
            imported_top_level_modules(path.read_text()) & (FORBIDDEN_MODULES | {"__import__"}))
        for path in PURE_FILES
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_client_cores_and_recipes_import_nothing_impure():
    assert len(PURE_CLIENT_FILES) >= 8
    offenders = {
        str(path.relative_to(CLIENTS_DIR)): sorted(
            imported_top_level_modules(path.read_text()) & (FORBIDDEN_MODULES | {"__import__"}))
        for path in PURE_CLIENT_FILES
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_no_storage_module_imports_twisted():
    for path in (COORD_DIR / "storage").glob("*.py"):
        assert "twisted" not in imported_top_level_modules(path.read_text()), path


def test_the_checker_catches_forbidden_imports():
    assert imported_top_level_modules("import os.path\nfrom twisted.internet import reactor") == {
        "os", "twisted",
    }
    assert "time" in imported_top_level_modules("def f():\n    import time\n")
