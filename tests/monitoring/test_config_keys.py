"""The monitoring keys of zoo.cfg: what turns each endpoint on, defaults, and clear errors."""

import pytest

from coord.config import Config, ConfigError, parse_zoo_cfg


def parsed(text):
    return parse_zoo_cfg(text, Config()).finish()


def test_nothing_served_unless_configured():
    """ZooKeeper serves its AdminServer on 8080 by default; coord only when asked, since several
    members on one machine (coord ensemble, the tests) would fight over one port."""
    config = parsed("clientPort=2181\n")
    assert config.metrics_port is None
    assert config.admin_enabled is False and config.admin_port is None
    assert config.log_format == "text"


def test_admin_keys():
    config = parsed("admin.enableServer=true\n")
    assert (config.admin_enabled, config.admin_port, config.admin_host) == (True, 8080, "0.0.0.0")
    config = parsed("admin.serverPort=9090\nadmin.serverAddress=127.0.0.1\n"
                    "admin.commandURL=/zk/commands\n")
    assert (config.admin_enabled, config.admin_port, config.admin_host) == (True, 9090, "127.0.0.1")
    assert config.admin_command_url == "/zk/commands"
    assert parsed("admin.serverPort=9090\nadmin.enableServer=false\n").admin_enabled is False
    assert not parsed("admin.serverPort=9090\n").warnings


def test_metrics_keys():
    config = parsed("metricsProvider.className="
                    "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n")
    assert (config.metrics_port, config.metrics_host) == (7000, "0.0.0.0")
    config = parsed("metricsProvider.httpPort=7001\nmetricsProvider.httpHost=127.0.0.1\n")
    assert (config.metrics_port, config.metrics_host) == (7001, "127.0.0.1")


def test_log_format_and_enforce_quota_keys():
    config = parsed("coord.logFormat=json\nenforceQuota=true\n")
    assert (config.log_format, config.enforce_quota) == ("json", True)
    assert parsed("zookeeper.enforceQuota=true\n").enforce_quota is True


@pytest.mark.parametrize("text, named", [
    ("metricsProvider.className=com.example.Other\n", "metricsProvider.className"),
    ("metricsProvider.httpPort=70000\n", "metricsProvider.httpPort"),
    ("admin.serverPort=-2\n", "admin.serverPort"),
    ("admin.commandURL=commands\n", "admin.commandURL"),
    ("coord.logFormat=xml\n", "coord.logFormat"),
])
def test_bad_values_name_the_key(text, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        parsed(text)
