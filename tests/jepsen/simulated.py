"""Histories of simulated atomic registers, for scale tests: linearizable by construction.

Each operation takes effect at one instant between its invocation and its completion; a client may
time out (an ``info``) whether or not its operation took effect, and is then replaced by a fresh
process, as Jepsen does. A CAS whose compare fails completes with ``fail`` (it ran, no effect).
"""

from __future__ import annotations

import random

from jepsen_like.history import Event


def simulate_registers(seed: int, keys: int, ops_per_key: int, clients: int, timeout_rate: float = 0.02,
                       values: int = 5) -> list[Event]:
    rng = random.Random(seed)
    registers: dict[int, int | None] = {key: None for key in range(keys)}
    left = {key: ops_per_key for key in range(keys)}
    open_keys = list(range(keys))
    events: list[Event] = []
    flight: dict[int, dict] = {}
    processes = list(range(clients))
    next_process = clients
    started, total = 0, keys * ops_per_key

    def record(type_, process, f, value, key):
        events.append(Event(len(events), type_, process, f, value, key=key))

    while started < total or flight:
        slot = rng.randrange(len(processes))
        process = processes[slot]
        op = flight.get(process)
        if op is None:
            if started == total:
                continue
            position = rng.randrange(len(open_keys))
            key = open_keys[position]
            left[key] -= 1
            if not left[key]:
                open_keys[position] = open_keys[-1]
                open_keys.pop()
            started += 1
            f = rng.choice(("read", "write", "cas"))
            value = {"read": None, "write": rng.randrange(values),
                     "cas": (rng.randrange(values), rng.randrange(values))}[f]
            flight[process] = {"f": f, "value": value, "key": key, "result": None}
            record("invoke", process, f, value, key)
        elif op["result"] is None and rng.random() < 0.6:
            key, f, value = op["key"], op["f"], op["value"]
            if f == "read":
                op["result"] = ("ok", registers[key])
            elif f == "write":
                registers[key] = value
                op["result"] = ("ok", value)
            elif registers[key] == value[0]:
                registers[key] = value[1]
                op["result"] = ("ok", value)
            else:
                op["result"] = ("fail", value)
        elif rng.random() < timeout_rate:
            del flight[process]
            record("info", process, op["f"], op["value"], op["key"])
            processes[slot] = next_process
            next_process += 1
        elif op["result"] is not None:
            del flight[process]
            record(op["result"][0], process, op["f"], op["result"][1], op["key"])
    return events
