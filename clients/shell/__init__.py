"""``coord shell``: an interactive shell in the spirit of zkCli.sh, on the blocking client.

It lives with the clients because it is one: it talks to any ZooKeeper-compatible server (coord
or Apache ZooKeeper) through ``clients.blocking`` and shares nothing with the server. Layout:
``syntax`` (words, options, paths, ACLs: pure), ``render`` (zkCli's output formats and messages:
pure), ``shell`` (the commands against a client), ``main`` (terminal, ``-c`` and piped input).
"""
