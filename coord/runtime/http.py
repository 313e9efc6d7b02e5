"""The HTTP endpoints (Twisted Web): Prometheus ``/metrics`` and ZooKeeper's AdminServer.

Both only read the core, in the reactor thread between inputs, so what they report is one
consistent moment of the member.
"""

import html
import json

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from twisted.logger import Logger
from twisted.web import resource, server

from coord import admin_commands
from coord.runtime.metrics import registry_for

log = Logger(namespace="coord.http")


class MetricsPage(resource.Resource):
    isLeaf = True

    def __init__(self, node):
        super().__init__()
        self.registry = registry_for(node)

    def render_GET(self, request):
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode("ascii"))
        return generate_latest(self.registry)


class CommandsPage(resource.Resource):
    """``<commandURL>`` lists the commands (HTML links, as ZooKeeper); ``<commandURL>/<name>``
    runs one and answers its JSON."""

    isLeaf = True

    def __init__(self, node, command_url):
        super().__init__()
        self.node = node
        self.command_url = command_url.rstrip("/")

    def render_GET(self, request):
        path = request.path.decode("utf-8", "replace").rstrip("/")
        if path == self.command_url:
            request.setHeader(b"Content-Type", b"text/html")
            links = "".join('<a href="%s/%s">%s</a>\n<br/>\n' % (
                html.escape(self.command_url), name, name) for name in sorted(admin_commands.COMMANDS))
            return links.encode("utf-8")
        prefix = self.command_url + "/"
        if not path.startswith(prefix) or "/" in path[len(prefix):]:
            request.setResponseCode(404)
            request.setHeader(b"Content-Type", b"text/plain")
            return b"Not found\n"
        name = path[len(prefix):]
        core = self.node.core
        result = admin_commands.run(core, core.process_facts, name)
        request.setHeader(b"Content-Type", b"application/json")
        return json.dumps(result, indent=2).encode("utf-8") + b"\n"


class _Root(resource.Resource):
    """Routes by path prefix: anything under ``prefix`` goes to ``page``, the rest is 404."""

    def __init__(self, routes):
        super().__init__()
        self.routes = routes   # (path prefix, page)

    def getChild(self, name, request):
        path = request.path.decode("utf-8", "replace")
        for prefix, page in self.routes:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return page
        return resource.NoResource()


class _QuietSite(server.Site):
    noisy = False

    def __init__(self, root, name):
        super().__init__(root)
        self.name = name

    def logPrefix(self):
        return self.name

    def log(self, request):
        pass   # no access log: a line per scrape would drown the server's own log


def _site(routes, name):
    site = _QuietSite(_Root(routes), name)
    site.displayTracebacks = False
    return site


def listen_metrics(reactor, node, host, port):
    """Serve /metrics; returns the listening port."""
    return reactor.listenTCP(port, _site([("/metrics", MetricsPage(node))], "metrics"), interface=host)


def listen_admin(reactor, node, host, port, command_url):
    """Serve the AdminServer commands under ``command_url``; returns the listening port."""
    return reactor.listenTCP(port, _site([(command_url, CommandsPage(node, command_url))], "AdminServer"),
                             interface=host)
