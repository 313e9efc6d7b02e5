"""Coordination recipes written once, as step generators (``clients.steps``), for both clients.

Each recipe object is made from a client (``client.Lock(path, identifier)``) and its methods return
what that client returns: values for the blocking client, Deferreds for the Twisted one.  Where
kazoo has the recipe, the znodes follow kazoo's protocol (names, sequence and ordering rules), so
coord-client and kazoo participants can share one path.
"""
