"""coord/protocol must stay sans-I/O: no sockets, threads, clocks, randomness, OS, or Twisted."""

import ast
import pathlib

import coord.protocol

FORBIDDEN_MODULES = {"twisted", "socket", "threading", "time", "random", "os", "asyncio", "select"}
PROTOCOL_DIR = pathlib.Path(coord.protocol.__file__).parent


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


def test_protocol_modules_import_nothing_impure():
    files = sorted(PROTOCOL_DIR.glob("*.py"))
    assert len(files) >= 8
    offenders = {
        path.name: sorted(imported_top_level_modules(path.read_text()) & (FORBIDDEN_MODULES | {"__import__"}))
        for path in files
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_the_checker_catches_forbidden_imports():
    assert imported_top_level_modules("import os.path\nfrom twisted.internet import reactor") == {
        "os", "twisted",
    }
    assert "time" in imported_top_level_modules("def f():\n    import time\n")
