"""The plugin's exposition parser, held to prometheus-client's parser on generated text."""

from __future__ import annotations

import math
import random

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pagerkit.collect.collectors.rabbitmq_prometheus_text import parse, queue_columns, queue_values

ALPHABET = ['a', 'Z', '0', ' ', '"', '\\', '\n', '}', '{', ',', '=', '#', 'é', '日', '🐇',
            '\t', '\\n', '\\"', '\\\\', 'x' * 5, '.', '-']
VALUES = ['0', '1', '-3', '2.5', '1e3', '-1.5e-7', 'NaN', '+Inf', '-Inf', '42']
NAMES = ['rabbitmq_detailed_queue_messages_ready', 'rabbitmq_detailed_queue_messages',
         'rabbitmq_detailed_queue_consumers', 'rabbitmq_queues', 'rabbitmq_queues_created_total',
         'erlang_vm_dist_recv_bytes', 'rabbitmq_identity_info']


def escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def random_value(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 8)))


def random_labels(rng: random.Random) -> str:
    names = rng.sample(["vhost", "queue", "node", "le", "_x", "a1"], rng.randint(0, 3))
    if not names:
        return rng.choice(["", "{}"])
    body = ",".join(f'{n}="{escaped(random_value(rng))}"' for n in names)
    return "{" + body + rng.choice(["", ","]) + "}"


def random_exposition(rng: random.Random) -> str:
    """Families in the plugin's layout (TYPE, HELP, then samples), in a random order,
    some without TYPE or HELP, with comments, blank lines and timestamps."""
    lines = []
    for name in rng.sample(NAMES, rng.randint(1, len(NAMES))):
        if rng.random() < 0.8:  # as the plugin writes them, counters end in _total
            kinds = ["counter"] if name.endswith("_total") else ["gauge", "untyped"]
            lines.append(f"# TYPE {name} {rng.choice(kinds)}")
        if rng.random() < 0.7:
            lines.append(f"# HELP {name} {escaped(random_value(rng))}")
        if rng.random() < 0.2:
            lines.append("# a comment")
        seen = set()
        for _ in range(rng.randint(0, 6)):
            labels = random_labels(rng)
            if labels in seen:
                continue
            seen.add(labels)
            stamp = f" {rng.randint(0, 2**40)}" if rng.random() < 0.2 else ""
            lines.append(f"{name}{labels} {rng.choice(VALUES)}{stamp}")
        if rng.random() < 0.1:
            lines.append("")
    return "\n".join(lines) + "\n"


def reference(text: str, names: set[str]) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text)
            for s in family.samples if s.name in names]


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("seed", range(300))
def test_the_same_samples_as_prometheus_client(seed):
    rng = random.Random(seed)
    text = random_exposition(rng)
    names = set(rng.sample(NAMES, rng.randint(1, 4)))
    want = reference(text, names)
    parsed = parse(text, names)
    assert parsed.invalid == 0
    got = [(name, labels, value) for name in names for labels, value in parsed.samples[name]]
    key = lambda row: (row[0], sorted(row[1].items()))  # noqa: E731
    assert len(got) == len(want)
    for mine, theirs in zip(sorted(got, key=key), sorted(want, key=key), strict=True):
        assert mine[:2] == theirs[:2]
        assert same(mine[2], theirs[2])


@pytest.mark.parametrize("seed", range(100))
def test_queue_values_equal_the_general_parse(seed):
    """The fast path (the plugin's label shape) and the general parser agree, whatever
    the names hold; lines of another shape fall back to the general parser."""
    rng = random.Random(seed)
    name = "rabbitmq_detailed_queue_messages_ready"
    lines = [f"# TYPE {name} gauge"]
    for i in range(rng.randint(0, 30)):
        vhost, queue = escaped(random_value(rng)), escaped(random_value(rng)) + str(i)
        if rng.random() < 0.1:
            lines.append(f'{name}{{queue="{queue}",vhost="{vhost}"}} {rng.choice(VALUES)}')
        else:
            lines.append(f'{name}{{vhost="{vhost}",queue="{queue}"}} {rng.choice(VALUES)}')
    text = "\n".join(lines) + "\n# TYPE other gauge\nother 1\n"
    got = by_queue(queue_values(text, [name]), name)
    want = {(labels["vhost"], labels["queue"]): value
            for _, labels, value in reference(text, {name})}
    assert got.keys() == want.keys()
    assert all(same(got[k], want[k]) for k in want)


def by_queue(table, name):  # type: ignore[no-untyped-def]
    assert table.invalid == 0
    return {table.queues[key]: value for key, value in table.values[name].items()}


def test_escapes_are_undone_exactly():
    text = ('# TYPE q gauge\nq{vhost="a\\\\b\\"c\\nd",queue="\\\\n é🐇 }{,"} 7\n'
            'q{vhost="\\t",queue="x\\\\"} 1\n')
    assert by_queue(queue_values(text, ["q"]), "q") == {
        ('a\\b"c\nd', "\\n é🐇 }{,"): 7.0, ("\\t", "x\\"): 1.0}
    assert {tuple(labels.values()) for labels, _ in parse(text, ["q"]).samples["q"]} == {
        ('a\\b"c\nd', "\\n é🐇 }{,"), ("\\t", "x\\")}


def test_lines_that_do_not_parse_are_counted_not_dropped_silently():
    text = ("# TYPE q gauge\n"
            'q{vhost="/",queue="ok"} 1\n'
            'q{vhost="/",queue="bad value"} many\n'
            'q{vhost="/",queue="underscore"} 1_000\n'
            "q{vhost=/,queue=unquoted} 1\n"
            'q{vhost="/"} 4\n'
            'qq{vhost="/",queue="another family"} 1\n')
    parsed = parse(text, ["q"])
    assert [labels for labels, _ in parsed.samples["q"]] == [
        {"vhost": "/", "queue": "ok"}, {"vhost": "/"}]
    assert parsed.invalid == 3
    table = queue_values(text, ["q"])
    assert {table.queues[k]: v for k, v in table.values["q"].items()} == {("/", "ok"): 1.0}
    assert table.invalid == 4  # the three above, and the line without a queue label


def test_only_the_wanted_stretch_is_read():
    """A family's lines end at the next TYPE line: a later sample of another family
    that shares the prefix is not taken for it."""
    text = ("# TYPE rabbitmq_queues gauge\nrabbitmq_queues 3\n"
            "# TYPE rabbitmq_queues_created_total counter\nrabbitmq_queues_created_total 9\n")
    parsed = parse(text, ["rabbitmq_queues"])
    assert parsed.samples["rabbitmq_queues"] == [({}, 3.0)]
    assert parsed.invalid == 0


QUEUE_FAMILIES = ["rabbitmq_detailed_queue_messages_ready",
                  "rabbitmq_detailed_queue_messages_unacked",
                  "rabbitmq_detailed_queue_consumers"]
PERTURBATIONS = ["none", "shuffled", "missing", "repeated", "label_order", "bad_value",
                 "extra_label"]


def plugin_layout(rng: random.Random, perturb: str) -> str:
    """The three queue families as the plugin writes them (one queue order for all),
    then one perturbation of one family that the column reader must not take."""
    queues = [(escaped(random_value(rng)), escaped(random_value(rng)) + str(i))
              for i in range(rng.randint(1, 25))]
    target = rng.randrange(3)
    text = ""
    for at, name in enumerate(QUEUE_FAMILIES):
        rows = [f'{name}{{vhost="{v}",queue="{q}"}} {rng.choice(VALUES)}' for v, q in queues]
        if at == target and perturb == "shuffled" and len(rows) > 1:
            rows.reverse()
        elif at == target and perturb == "missing":
            rows.pop(rng.randrange(len(rows)))
        elif at == target and perturb == "repeated":
            rows.append(rows[0])
        elif at == target and perturb == "label_order":
            v, q = queues[0]
            rows[0] = f'{name}{{queue="{q}",vhost="{v}"}} 1'
        elif at == target and perturb == "bad_value":
            rows[0] = rows[0].rsplit(" ", 1)[0] + " 1_0"
        elif at == target and perturb == "extra_label":
            v, q = queues[0]
            rows[0] = f'{name}{{vhost="{v}",queue="{q}",x="y"}} 1'
        text += f"# TYPE {name} gauge\n" + "".join(r + "\n" for r in rows)
    return text + "# TYPE rabbitmq_identity_info untyped\n"


@pytest.mark.parametrize("perturb", PERTURBATIONS)
@pytest.mark.parametrize("seed", range(30))
def test_columns_equal_the_general_reading_or_step_aside(seed, perturb):
    """The plugin's layout is read as columns, with the same figures as ``queue_values``
    (which follows prometheus-client), a family in another queue order too (the consumer
    counts come from another table than the messages); any other departure from it is
    left to ``queue_values``."""
    rng = random.Random(seed)
    text = plugin_layout(rng, perturb)
    columns = queue_columns(text, QUEUE_FAMILIES)
    table = queue_values(text, QUEUE_FAMILIES)
    if perturb not in ("none", "shuffled"):
        assert columns is None
        return
    assert columns is not None and table.invalid == 0
    for name in QUEUE_FAMILIES:
        want = {table.queues[k]: v for k, v in table.values[name].items()}
        got = dict(zip(columns.queues, columns.values[name], strict=True))
        assert got.keys() == want.keys()
        assert all(same(got[k], want[k]) for k in want)


def three_families(queues: list[tuple[str, str]]) -> str:
    return "".join(f"# TYPE {name} gauge\n" + "".join(
        f'{name}{{vhost="{escaped(v)}",queue="{escaped(q)}"}} 1\n' for v, q in queues)
        for name in QUEUE_FAMILIES)


def test_the_last_answer_lends_its_queue_names_only_while_they_stand():
    queues = [("/", f"q{i}") for i in range(20)] + [("v", 'a "quoted" \\ name')]
    first = queue_columns(three_families(queues), QUEUE_FAMILIES)
    assert first is not None and first.queues == queues
    again = queue_columns(three_families(queues), QUEUE_FAMILIES, first)
    assert again is not None and again.queues is first.queues  # not read again
    for changed in ([*queues, ("v", "new")], queues[::-1], queues[1:]):
        fresh = queue_columns(three_families(changed), QUEUE_FAMILIES, first)
        assert fresh is not None and fresh.queues == changed
