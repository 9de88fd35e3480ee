"""The ``pagerkit`` command."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from . import __version__
from .collect.config import config_path, load_config
from .collect.engine import build_engine
from .collect.exposition import encode_text
from .errors import UserError
from .logs import setup_logging

if TYPE_CHECKING:
    from .bundle.validate import MetricCatalog

log = logging.getLogger("pagerkit")


def cmd_check_config(args: argparse.Namespace) -> int:
    config = load_config(config_path(args.config))
    print(f"{config.path}: ok, {len(config.sources)} source(s): "
          + ", ".join(f"{s.name} ({s.kind})" for s in config.sources))
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    config = load_config(config_path(args.config))
    setup_logging(config.log_level, config.log_format)
    engine = build_engine(config)
    try:
        sys.stdout.write(encode_text(engine.collect()).decode())
    finally:
        engine.close()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .collect.server import MetricsApp
    from .serving import Server, hypercorn_config

    config = load_config(config_path(args.config))
    setup_logging(config.log_level, config.log_format)
    engine = build_engine(config)
    server = Server(MetricsApp(engine, config.web, config.playbooks_dir),
                    hypercorn_config(config.listen_host, config.listen_port, config.web))
    _start(server, config.path, config.listen_host, config.listen_port, "web.listen_address")
    scheme = "https" if config.web is not None and config.web.tls is not None else "http"
    log.info("serving %s://%s:%d/metrics for %d source(s)", scheme, config.listen_host,
             server.port, len(config.sources))
    _wait_for_signal()
    log.info("shutting down")
    server.stop()
    engine.close()
    return 0


def cmd_relay(args: argparse.Namespace) -> int:
    from .relay.app import RelayApp
    from .relay.config import load_relay_config
    from .serving import Server, hypercorn_config

    config = load_relay_config(config_path(args.config))
    setup_logging(config.log_level, config.log_format)
    app = RelayApp(config)
    hyper = hypercorn_config(config.listen_host, config.listen_port, config.web)
    hyper.wsgi_max_body_size = 2 * config.max_body_bytes  # the app refuses with 400 first
    server = Server(app, hyper)
    _start(server, config.path, config.listen_host, config.listen_port, "relay.listen_address")
    app.start()
    log.info("relay listening on %s:%d, public at %s, Alertmanager %s", config.listen_host,
             server.port, config.public_url, ", ".join(config.alertmanagers))
    _wait_for_signal()
    log.info("shutting down")
    app.stop()
    server.stop()
    return 0


def _start(server: Any, path: str, host: str, port: int, key: str) -> None:
    """Listen, or a config error naming the address's key."""
    try:
        server.start()
    except OSError as exc:
        raise UserError(path, None, f"cannot listen on {host}:{port}: {exc.strerror}; change "
                                    f"{key}") from None


def _wait_for_signal() -> None:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Timed: when the kernel hands the signal to another thread, an untimed wait in the
    # main thread is never interrupted and the handler would not run.
    while not stop.wait(0.2):
        pass


def cmd_generate(args: argparse.Namespace) -> int:
    from .bundle.generate import generate

    return generate(Path(args.root), args.check)


def cmd_validate(args: argparse.Namespace) -> int:
    from .bundle.validate import format_error, format_findings, validate_bundle

    try:
        findings = validate_bundle(Path(args.root), metric_catalog())
    except UserError as error:
        # A CI job reads its format from stdout whatever failed; a person reads stderr.
        if args.format != "text":
            sys.stdout.write(format_error(error, args.format))
        raise
    sys.stdout.write(format_findings(findings, args.format))
    if args.format == "text":
        print(f"{len(findings)} finding(s)" if findings else "ok: the spec, the generated "
              "files and the playbooks agree", file=sys.stderr)
    return 1 if findings else 0


def metric_catalog() -> MetricCatalog:
    """What every part of pagerkit exports (the exporter and the relay), and what an
    exporter config's queries define: the names an alert expression may select."""
    from .bundle.validate import MetricCatalog
    from .collect.catalog import exporter_metric_names, query_metric_names, sample_names
    from .relay.metrics import RelayMetrics

    relay = sample_names(RelayMetrics().registry.collect())
    return MetricCatalog(frozenset(exporter_metric_names() | relay), query_metric_names)


def cmd_playbook_new(args: argparse.Namespace) -> int:
    from .bundle.alerts import SPEC_PATH, load_spec
    from .bundle.playbooks import PLAYBOOK_DIR, add_section

    root = Path(args.root)
    spec = load_spec(root)
    alert = next((a for a in spec.alerts if a.name == args.alertname), None)
    if alert is None:
        raise UserError(str(SPEC_PATH), None, f"no alert named {args.alertname}; add it to "
                                              "the spec first, with its playbook link")
    file, _, _ = alert.playbook.partition("#")
    target = PLAYBOOK_DIR / file
    try:
        line = add_section(root, file, alert.name)
    except FileExistsError as exists:
        raise UserError(str(target), int(str(exists)), f"{alert.name} already has a "
                                                       "section here") from None
    print(f"{target}:{line}: added the section {alert.name}; write its four subsections, "
          "then run `pagerkit validate`")
    return 0


def cmd_oncall_who(args: argparse.Namespace) -> int:
    import datetime as dt
    from zoneinfo import ZoneInfo

    from .oncall.routing import ROUTING_PATH, load_routing
    from .oncall.who import primary, team_or_error, who

    spec = load_routing(Path(args.root))
    try:
        at = dt.datetime.fromisoformat(args.at) if args.at else dt.datetime.now(dt.UTC)
    except ValueError:
        raise UserError("--at", None, f"{args.at!r} is not a time; write it as "
                                      "2026-12-24T21:00+13:00 (UTC without an offset)") from None
    at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    for team in team_or_error(spec, args.team):
        first, second = who(team, at)
        if first is None:
            print(f"{team.name}: nobody (the schedule in {ROUTING_PATH} covers "
                  f"{team.start:%Y-%m-%d %H:%M} to {team.end:%Y-%m-%d %H:%M} UTC)")
            continue
        shift = next(s for s in primary(team) if s.start <= at < s.end)
        local = shift.end.astimezone(ZoneInfo(team.timezone))
        print(f"{team.name}: {first} until {local:%a %Y-%m-%d %H:%M %Z} "
              f"({shift.end:%H:%M} UTC); secondary: {second or 'none'}")
    return 0


def cmd_oncall_calendar(args: argparse.Namespace) -> int:
    from .oncall.routing import load_routing
    from .oncall.who import calendar, team_or_error

    team = team_or_error(load_routing(Path(args.root)), args.team)[0]
    sys.stdout.write(calendar(team).decode())
    return 0


def cmd_ack(args: argparse.Namespace) -> int:
    from .alertmanager import acknowledge, active_silences, alertmanager_url
    from .durations import format_duration, parse_duration

    url = alertmanager_url(args.alertmanager, _routing_alertmanager_url(Path(args.root)))
    if args.list:
        for s in active_silences(url):
            team = f" team={s.team}" if s.team else ""
            print(f"{s.alertname}{team} until {s.ends:%Y-%m-%d %H:%M} UTC, by {s.created_by}: "
                  f"{s.comment} (id {s.id})")
        return 0
    if not args.alertname:
        raise UserError("pagerkit ack", None, "name the alert to acknowledge, or use --list")
    try:
        seconds = parse_duration(args.duration)
    except ValueError as exc:
        raise UserError("--for", None, str(exc)) from None
    silence = acknowledge(url, args.alertname, args.team, seconds, args.comment)
    team = f" (team {silence.team})" if silence.team else ""
    print(f"acknowledged {silence.alertname}{team} for {format_duration(seconds)}, until "
          f"{silence.ends:%Y-%m-%d %H:%M} UTC: its later tiers will not page (silence "
          f"{silence.id})")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import datetime as dt

    from .alertmanager import alertmanager_url
    from .report.build import Request, output_format, prometheus_url, run
    from .report.figures import Settings

    try:
        noise = parse_duration_flag("--noise", args.noise)
        start, _, end = args.night.partition("-")
        night = (dt.time.fromisoformat(start), dt.time.fromisoformat(end))
    except ValueError:
        raise UserError("--night", None, f"{args.night!r} is not a span of the clock; write "
                                         "it as 22:00-07:00") from None
    request = Request(Path(args.root), args.since, args.until, args.team,
                      prometheus_url(args.prometheus),
                      alertmanager_url(args.alertmanager,
                                       _routing_alertmanager_url(Path(args.root))),
                      Settings(noise, night[0], night[1]))
    return run(request, output_format(args.format, args.output), args.output)


def parse_duration_flag(flag: str, text: str) -> float:
    from .durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UserError(flag, None, str(exc)) from None


def _routing_alertmanager_url(root: Path) -> str | None:
    """Read leniently: a routing spec broken elsewhere must not stop an acknowledgement."""
    from .yamlfile import safe_value

    value = safe_value(root / "alertmanager" / "routing.yaml", "alertmanager_url")
    return str(value) if value else None


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="pagerkit", description=__doc__)
    top.add_argument("--version", action="version", version=f"pagerkit {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, func, help_text in (
        ("serve", cmd_serve, "run the exporter"),
        ("collect", cmd_collect, "collect once and print the exposition"),
        ("check-config", cmd_check_config, "validate the config, secrets resolved"),
        ("relay", cmd_relay, "send pages as SMS, calls and pushes; serve acknowledgements"),
    ):
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.add_argument("--config", metavar="FILE",
                             help="config file (default: $PAGERKIT_CONFIG, else pagerkit.yaml)")
        command.set_defaults(func=func)
    generate = sub.add_parser("generate", help="regenerate every generated file",
                              description="regenerate rules/generated from rules/alerts.yaml")
    generate.add_argument("--check", action="store_true",
                          help="change nothing; exit 1 if any generated file is stale")
    generate.set_defaults(func=cmd_generate)
    validate = sub.add_parser("validate", help="specs, generated files and playbooks agree")
    validate.add_argument("--format", choices=("text", "github", "json"), default="text")
    validate.set_defaults(func=cmd_validate)
    playbook = sub.add_parser("playbook", help="playbook sections").add_subparsers(
        dest="playbook_command", required=True, metavar="COMMAND")
    new = playbook.add_parser("new", help="add a section skeleton for an alert, in the file "
                                          "its playbook link names")
    new.add_argument("alertname")
    new.set_defaults(func=cmd_playbook_new)
    oncall = sub.add_parser("oncall", help="who is on call, from alertmanager/routing.yaml"
                            ).add_subparsers(dest="oncall_command", required=True,
                                             metavar="COMMAND")
    who = oncall.add_parser("who", help="who is on call now, or at --at")
    who.add_argument("--team")
    who.add_argument("--at", metavar="TIME", help="ISO 8601, such as 2026-12-24T21:00+13:00")
    who.set_defaults(func=cmd_oncall_who)
    cal = oncall.add_parser("calendar", help="a team's schedule as iCalendar, on stdout")
    cal.add_argument("--team", required=True)
    cal.set_defaults(func=cmd_oncall_calendar)
    ack = sub.add_parser("ack", help="acknowledge an alert: the silence a page's link creates",
                         description="acknowledge an alert: a silence on its alertname")
    ack.add_argument("alertname", nargs="?")
    ack.add_argument("--team", help="only this team's alert")
    ack.add_argument("--for", dest="duration", default="1h", metavar="D",
                     help="how long (default 1h), such as 30m or 2h")
    ack.add_argument("--comment")
    ack.add_argument("--list", action="store_true", help="the acknowledgements in force")
    ack.add_argument("--alertmanager", metavar="URL",
                     help="default: $PAGERKIT_ALERTMANAGER_URL, alertmanager_url in "
                          "alertmanager/routing.yaml, else http://127.0.0.1:9093")
    ack.set_defaults(func=cmd_ack)
    report = sub.add_parser(
        "report", help="on-call health: pages, noise, nights, from the alert history",
        description="on-call health from Prometheus's ALERTS history, Alertmanager's "
                    "acknowledgements and the on-call schedule")
    report.add_argument("--since", default="28d", metavar="D",
                        help="how far back from --until (default 28d), or a time")
    report.add_argument("--until", metavar="TIME", help="the window's end (default: now), "
                                                        "such as 2026-12-24T21:00+13:00")
    report.add_argument("--team", help="only this team's alerts and members")
    report.add_argument("--format", choices=("html", "markdown", "json"),
                        help="default: from -o's suffix, else markdown")
    report.add_argument("-o", "--output", metavar="FILE", help="default: stdout")
    report.add_argument("--noise", default="5m", metavar="D",
                        help="a page gone by itself, unacknowledged, within this is noise "
                             "(default 5m)")
    report.add_argument("--night", default="22:00-07:00", metavar="HH:MM-HH:MM",
                        help="a member's night, in their own time zone (default 22:00-07:00)")
    report.add_argument("--prometheus", metavar="URL",
                        help="default: $PAGERKIT_PROMETHEUS_URL, else http://127.0.0.1:9090")
    report.add_argument("--alertmanager", metavar="URL",
                        help="default: $PAGERKIT_ALERTMANAGER_URL, alertmanager_url in "
                             "alertmanager/routing.yaml, else http://127.0.0.1:9093")
    report.set_defaults(func=cmd_report)
    for command in (generate, validate, new, who, cal, ack, report):
        command.add_argument("--root", default=".", metavar="DIR",
                             help="the repository holding rules/ (default: .)")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"pagerkit: {exc}", file=sys.stderr)
        return 2
