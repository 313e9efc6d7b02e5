"""Python clients for coord and any ZooKeeper 3.5+ ensemble (docs/clients.md).

``clients.blocking.Client`` (threads, kazoo's names) and ``clients.tx.Client`` (Twisted,
Deferreds) drive one sans-I/O core, ``clients.session.ClientSession``; the recipes in
``clients.recipes`` (docs/recipes.md) are written once for both.
"""
