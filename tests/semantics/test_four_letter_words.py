"""Four-letter words: exact answers where tools depend on them (ruok, isro), shapes elsewhere.

The servers run with ``4lw.commands.whitelist=*``. Numbers change as other tests run, so the
multi-line reports are checked for structure, not values.
"""

import re

import pytest

from coord.testing.servers import four_letter_word


def flw(server, word):
    return four_letter_word(server.host, server.port, word, timeout_s=10)


def test_ruok(server):
    assert flw(server, "ruok") == "imok"


def test_isro(server):
    assert flw(server, "isro") == "rw"


def test_kazoo_command_ruok(client):
    assert client.command(b"ruok") == "imok"


SRVR_KEYS = ["Latency min/avg/max", "Received", "Sent", "Connections", "Outstanding", "Zxid", "Mode", "Node count"]


def expected_mode(server):
    """What srvr's Mode line says for this topology: standalone, or the member's role."""
    if server.ensemble is None:
        return "standalone"
    return "leader" if server.kind.endswith("l") else "follower"


def _check_srvr_body(lines, mode):
    if mode == "leader" and lines and lines[-1].startswith("Proposal sizes"):
        lines = lines[:-1]   # ZooKeeper's leader adds this line
    assert [line.split(":", 1)[0] for line in lines] == SRVR_KEYS
    values = dict(line.split(": ", 1) for line in lines)
    assert re.fullmatch(r"\d+/\d+(\.\d+)?/\d+", values["Latency min/avg/max"])
    for key in ("Received", "Sent", "Connections", "Outstanding", "Node count"):
        assert re.fullmatch(r"\d+", values[key]), (key, values[key])
    assert re.fullmatch(r"0x[0-9a-f]+", values["Zxid"])
    assert values["Mode"] == mode
    return values


def test_srvr(server, client, prefix):
    text = flw(server, "srvr")
    assert text.endswith("\n")
    lines = text.rstrip("\n").split("\n")
    assert lines[0].startswith("Zookeeper version: ")
    values = _check_srvr_body(lines[1:], expected_mode(server))
    assert int(values["Zxid"], 16) >= client.exists(prefix).czxid
    assert int(values["Connections"]) >= 1  # our kazoo client


def test_stat(server, client):
    text = flw(server, "stat")
    lines = text.rstrip("\n").split("\n")
    assert lines[0].startswith("Zookeeper version: ")
    assert lines[1] == "Clients:"
    blank = lines.index("")
    clients = lines[2:blank]
    assert len(clients) >= 2  # kazoo's connection and this one
    for line in clients:
        assert re.fullmatch(r" /127\.0\.0\.1:\d+\[\d+\]\(queued=\d+,recved=\d+,sent=\d+\)", line), line
    _check_srvr_body(lines[blank + 1 :], expected_mode(server))


def test_cons(server, client):
    text = flw(server, "cons")
    assert text.endswith("\n\n")
    lines = text[:-2].split("\n")
    assert len(lines) >= 2
    for line in lines:
        assert re.fullmatch(r" /127\.0\.0\.1:\d+\[\d+\]\(queued=\d+,recved=\d+,sent=\d+(,.*)?\)", line), line
    sid = f"sid=0x{client.client_id[0]:x},"
    full = [line for line in lines if sid in line]
    assert len(full) == 1
    assert re.search(r",lop=\w+,est=\d+,to=\d+,lcxid=0x[0-9a-f]+,lzxid=0x[0-9a-f]+,lresp=\d+,", full[0])


def test_mntr(server, client, prefix):
    def mntr():
        text = flw(server, "mntr")
        assert text.endswith("\n")
        pairs = [line.split("\t") for line in text.rstrip("\n").split("\n")]
        assert all(len(p) == 2 for p in pairs), pairs
        return dict(pairs)

    before = mntr()
    for key in (
        "zk_version",
        "zk_server_state",
        "zk_znode_count",
        "zk_watch_count",
        "zk_ephemerals_count",
        "zk_num_alive_connections",
        "zk_outstanding_requests",
        "zk_approximate_data_size",
        "zk_avg_latency",
        "zk_packets_received",
        "zk_packets_sent",
    ):
        assert key in before, key
    assert before["zk_server_state"] == expected_mode(server)
    for key in ("zk_znode_count", "zk_watch_count", "zk_ephemerals_count", "zk_num_alive_connections"):
        assert re.fullmatch(r"\d+", before[key]), (key, before[key])
    for name in ("a", "b", "c"):
        client.create(f"{prefix}/{name}")
    assert int(mntr()["zk_znode_count"]) == int(before["zk_znode_count"]) + 3


def test_conf(server):
    lines = flw(server, "conf").rstrip("\n").split("\n")
    conf = dict(line.split("=", 1) for line in lines if "=" in line)
    assert conf["clientPort"] == str(server.port)
    assert conf["tickTime"] == str(server.tick_ms)
    assert conf["minSessionTimeout"] == str(2 * server.tick_ms)
    assert conf["maxSessionTimeout"] == str(20 * server.tick_ms)
    assert conf["maxClientCnxns"] == "0"
    assert "dataDir" in conf and "dataLogDir" in conf
    if server.ensemble is not None:
        # An ensemble member adds its quorum settings and the membership, as ZooKeeper does.
        assert conf["initLimit"] == "10" and conf["syncLimit"] == "5"
        assert "membership: " in lines
        members = [line for line in lines if line.startswith("server.")]
        assert len(members) == len(server.ensemble.members)


def test_envi(server):
    text = flw(server, "envi")
    assert text.startswith("Environment:\n")
    env = dict(line.split("=", 1) for line in text.rstrip("\n").split("\n")[1:])
    for key in ("zookeeper.version", "host.name", "os.name", "user.name"):
        assert key in env, key


def test_wchs_wchc_wchp(server, client, prefix):
    client.get(prefix, watch=lambda event: None)
    client.get_children(prefix, watch=lambda event: None)
    wchs = flw(server, "wchs")
    assert re.fullmatch(r"\d+ connections watching \d+ paths\nTotal watches:\d+\n", wchs), wchs
    sid = f"0x{client.client_id[0]:x}"
    wchc = flw(server, "wchc")
    assert f"{sid}\n\t{prefix}\n" in wchc
    wchp = flw(server, "wchp")
    assert f"{prefix}\n\t{sid}\n" in wchp


def test_dirs(server):
    assert re.fullmatch(r"datadir_size: \d+\nlogdir_size: \d+\n", flw(server, "dirs"))


@pytest.mark.parametrize("word", ["xxxx", "RUOK"])
def test_unknown_word_gets_no_answer(server, word):
    assert flw(server, word) == ""
