"""``via: prometheus`` configs: what each way of reading needs, refused with file and line."""

from __future__ import annotations

import pytest

from pagerkit.cli import main
from pagerkit.collect.config import load_config
from tests.harness.support import write_config

HEAD = "sources:\n  - name: mq\n    kind: rabbitmq\n"
BAD = [
    ("message_stats through the plugin",
     HEAD + "    via: prometheus\n    nodes: [http://a:15692]\n    queues:\n"
            "      message_stats: true\n", 7, "the rabbitmq_prometheus plugin has no per-queue"),
    ("nodes without via", HEAD + "    nodes: [http://a:15692]\n", 4,
     "read only with via: prometheus; add via: prometheus"),
    ("neither url nor nodes", HEAD + "    via: prometheus\n", 2,
     "needs url (the management API) or, with via: prometheus, nodes"),
    ("a node with a path", HEAD + "    via: prometheus\n    nodes: [http://a:15692/metrics]\n",
     5, "sources[0].nodes[0]"),
    ("an unknown via", HEAD + "    via: plugin\n    url: http://a:15672\n", 4,
     "sources[0].via"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])
def test_refused_with_file_line_and_fix(tmp_path, capsys, text, line, fragment):
    path = write_config(tmp_path, text)
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{line}: " in err
    assert fragment in err
    assert "Traceback" not in err


def test_nodes_alone_or_url_alone_are_enough(tmp_path):
    nodes = load_config(str(write_config(tmp_path, HEAD + "    via: prometheus\n    nodes: "
                                         "[http://a:15692/, https://b:15691]\n")), environ={})
    assert nodes.sources[0].via == "prometheus"
    assert nodes.sources[0].nodes == ("http://a:15692", "https://b:15691")
    discovered = load_config(str(write_config(tmp_path, HEAD + "    via: prometheus\n    url: "
                                              "http://a:15672\n")), environ={})
    assert discovered.sources[0].nodes == ()
    default = load_config(str(write_config(tmp_path, HEAD + "    url: http://a:15672\n")),
                          environ={})
    assert default.sources[0].via == "management"
