"""Session ids are never reused, even by a member whose data dir was wiped (its persisted
incarnation starts again): a reused id would make an old client's ephemerals look alive, or let it
resume someone else's session. Found by the jepsen_like disk nemesis."""

import shutil

from kazoo.client import KazooClient

from coord.testing.servers import CoordProcess, free_port


def first_session_id(server):
    client = KazooClient(hosts=server.address, timeout=10.0)
    client.start(timeout=30)
    try:
        return client.client_id[0]
    finally:
        client.stop()
        client.close()


def test_a_wiped_member_does_not_hand_out_old_session_ids(tmp_path):
    server = CoordProcess(tmp_path / "coord", port=free_port())
    seen = set()
    try:
        for _ in range(3):
            server.start()
            seen.add(first_session_id(server))
            server.stop()
            shutil.rmtree(server.data_dir)
    finally:
        server.stop()
    assert len(seen) == 3
