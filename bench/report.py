"""The results table (rich) and bars: what each headline figure is held to."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Bar:
    key: str
    text: str
    check: Callable[[float], bool]


BARS = (
    Bar("service_overhead_ratio", ">= 0.8", lambda v: v >= 0.8),
    Bar("added_median_ms_c1", "< 1 ms", lambda v: v < 1.0),
    # Issue #13: request ids, access lines and metrics cost at most 5% of what the service
    # adds per request (measured in-process, where the machine's load cannot blur it).
    Bar("observability_share_of_service_adds", "<= 0.05", lambda v: v <= 0.05),
    Bar("ingest_ratio_to_tiktoken", "<= 2.0", lambda v: v <= 2.0),
    Bar("repeat_upstream_calls", "== 1", lambda v: v == 1),
    Bar("repeat_extra_upstream_calls", "== 0", lambda v: v == 0),
    Bar("singleflight_upstream_calls", "== 1", lambda v: v == 1),
    Bar("summary_repeat_upstream_calls", "== 1", lambda v: v == 1),
    Bar("summary_singleflight_upstream_calls", "== 1", lambda v: v == 1),
    Bar("long_doc_token_share", "<= 0.25", lambda v: v <= 0.25),
)


def judge(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each bar with its value and verdict (None when the figure was not measured)."""
    verdicts = {}
    for bar in BARS:
        value = results.get(bar.key)
        verdicts[bar.key] = {
            "value": value,
            "bar": bar.text,
            "ok": None if value is None else bool(bar.check(value)),
        }
    return verdicts


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        text = f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:.0f}"
    else:
        text = str(value)
    return f"{text}{unit}"


def rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(benchmark, measure, value, bar key or "") rows of the table, from the results."""
    s = results.get("sections", {})
    out: list[tuple[str, str, str, str]] = []

    def add(section: str, label: str, value: Any, unit: str = "", key: str = "") -> None:
        out.append((section, label, _fmt(value, unit), key))

    o = s.get("overhead", {})
    if "skipped" in o or not o:
        add("1 overhead", "skipped", o.get("skipped", "not run"))
    else:
        add("1 overhead", f"service / minimal req/s, c=32 ({o['tool']})",
            o["service_overhead_ratio"], key="service_overhead_ratio")  # fmt: skip
        add("1 overhead", "  service | minimal req/s, c=32",
            f"{_fmt(o['service_rps_c32'])} | {_fmt(o['minimal_rps_c32'])}")  # fmt: skip
        add("1 overhead", "median added at c=1", o["added_median_ms_c1"], " ms",
            key="added_median_ms_c1")  # fmt: skip
        add("1 overhead", "  service | minimal p50, c=1",
            f"{_fmt(o['service_p50_ms_c1'])} | {_fmt(o['minimal_p50_ms_c1'])} ms")  # fmt: skip
        if o.get("note"):
            add("1 overhead", "NOTE", o["note"])
        add("1 overhead", "server CPU per request: service | minimal",
            f"{_fmt(o.get('service_cpu_ms_per_request'))} | "
            f"{_fmt(o.get('minimal_cpu_ms_per_request'))} ms")  # fmt: skip
        if "observability_rps_ratio_c32" in o:
            add("1 overhead", "ids+logs+metrics: share of what the service adds",
                o.get("observability_share_of_service_adds"),
                key="observability_share_of_service_adds")  # fmt: skip
            b = o.get("breakdown", {})
            add("1 overhead", "  µs/request: observer + model-call metrics | service adds",
                f"{_fmt(b.get('observer_us_per_request'))} + "
                f"{_fmt(b.get('model_call_metrics_us_per_call'))} | "
                f"{_fmt(b.get('service_adds_us_per_request'))}")  # fmt: skip
            add("1 overhead", "  whole app in-process µs: with | without",
                f"{_fmt(b.get('service_app_us_per_request'))} | "
                f"{_fmt(b.get('bare_app_us_per_request'))}")  # fmt: skip
            add(
                "1 overhead",
                "  server CPU share of the overhead (loaded)",
                o.get("observability_share_of_overhead"),
            )
            add("1 overhead", "  CPU per request: with | without",
                f"{_fmt(o.get('service_cpu_ms_per_request'))} | "
                f"{_fmt(o.get('bare_cpu_ms_per_request'))} ms")  # fmt: skip
            add("1 overhead", "  with / without req/s, c=32", o["observability_rps_ratio_c32"])
            add("1 overhead", "  with | without p50, c=1",
                f"{_fmt(o['service_p50_ms_c1'])} | {_fmt(o['bare_p50_ms_c1'])} ms")  # fmt: skip
        add("1 overhead", "cache hits: req/s c=32 | p50 c=1",
            f"{_fmt(o['cache_hit_rps_c32'])} | {_fmt(o['cache_hit_p50_ms_c1'])} ms")  # fmt: skip
    i = s.get("ingest", {})
    if i and "skipped" not in i:
        add("2 ingest", f"segment / tiktoken, {i['text_mb']} MB", i["ingest_ratio_to_tiktoken"],
            key="ingest_ratio_to_tiktoken")  # fmt: skip
        add("2 ingest", "  CPU time ratio (all threads)", i.get("ingest_cpu_ratio_to_tiktoken"))
        add("2 ingest", "  segment | tiktoken MB/s",
            f"{_fmt(i['segment_mb_per_s'])} | {_fmt(i['tiktoken_mb_per_s'])}")  # fmt: skip
    r = s.get("repeat", {})
    if r and "skipped" not in r:
        add("3 repeat", "answer twice: upstream calls", r["repeat_upstream_calls"],
            key="repeat_upstream_calls")  # fmt: skip
        add("3 repeat", "  of which by the repeat", r["repeat_extra_upstream_calls"],
            key="repeat_extra_upstream_calls")  # fmt: skip
        add("3 repeat", "50 concurrent answers: calls", r["singleflight_upstream_calls"],
            key="singleflight_upstream_calls")  # fmt: skip
        add("3 repeat", "summary twice: upstream calls", r["summary_repeat_upstream_calls"],
            key="summary_repeat_upstream_calls")  # fmt: skip
        add("3 repeat", "50 concurrent summaries: calls",
            r["summary_singleflight_upstream_calls"], key="summary_singleflight_upstream_calls")  # fmt: skip
    d = s.get("long_docs", {})
    if d and "skipped" not in d:
        add("4 long docs", "prompt tokens / article tokens", d["long_doc_token_share"],
            key="long_doc_token_share")  # fmt: skip
        c = d["configs"]
        add("4 long docs", "evidence recall: default settings", d["evidence_recall_default"])
        add("4 long docs", "  chunks only (0) | whole article",
            f"{_fmt(d['evidence_recall_chunks_only'])} | "
            f"{_fmt(d['evidence_recall_whole_article'])} (by construction)")  # fmt: skip
        add("4 long docs", "  token share: chunks only | whole",
            f"{_fmt(c['chunks_only']['mean_token_share'])} | "
            f"{_fmt(c['whole_article']['mean_token_share'])}")  # fmt: skip
    e = s.get("embedded", {})
    if "skipped" in e or not e:
        add("5 embedded", "skipped", e.get("skipped", "not run"))
    else:
        add("5 embedded", "answer: first token | done (median)",
            f"{_fmt(e['answer_ttft_median_s'])} | {_fmt(e['answer_total_median_s'])} s")  # fmt: skip
        add("5 embedded", "summary: first token | done (median)",
            f"{_fmt(e['summary_ttft_median_s'])} | {_fmt(e['summary_total_median_s'])} s")  # fmt: skip
        if e.get("other_model_servers_running"):
            add("5 embedded", "WARNING: other llama.cpp servers ran",
                e["other_model_servers_running"])  # fmt: skip
        apm = e["answers_per_minute"]
        add("5 embedded", "answers/min at c=1 | 2 | 4",
            " | ".join(_fmt(apm.get(k)) for k in ("c1", "c2", "c4")))  # fmt: skip
        first = e.get("first_question", {})
        if "ratio_read_ahead_to_at_once" in first:
            add("5 embedded", "new article's 1st question: read ahead / asked at once",
                f"{_fmt(first['ratio_read_ahead_to_at_once'])} "
                f"({first['after_read_ahead_s']} vs {first['asked_at_once_s']} s)")  # fmt: skip
    g = s.get("scaling", {})
    for row in g.get("ingestion", []):
        add("6 scaling", f"ingest {row['size']}: s/MB | peak",
            f"{_fmt(row['s_per_mb'])} s | {_fmt(row['peak_mib'])} MiB")  # fmt: skip
    for row in g.get("summaries", []):
        add("6 scaling", f"summary {row['size']}: calls | wall | calls×delay",
            f"{row['model_calls']} | {_fmt(row['wall_s'])} s | {_fmt(row['calls_x_delay_s'])} s")  # fmt: skip
    h = s.get("shared_state", {})
    if "skipped" in h:
        add("7 shared state", "skipped", h["skipped"])
    elif h:
        add("7 shared state", "new question p50: embedded | PG+Redis",
            f"{_fmt(h['new_question_p50_ms_embedded'])} | "
            f"{_fmt(h['new_question_p50_ms_shared'])} ms")  # fmt: skip
        add("7 shared state", "  added by PG+Redis (median paired) | ratio",
            f"{_fmt(h['shared_added_ms_p50'])} ms | {_fmt(h['shared_latency_ratio'])}")  # fmt: skip
        add("7 shared state", f"cache hits c=32 ({h['load_tool']}): 1 direct | 3 via HAProxy",
            f"{_fmt(h['cache_hit_rps_1_direct'])} | {_fmt(h['cache_hit_rps_3_haproxy'])} req/s "
            f"(x{_fmt(h['cache_hit_rps_ratio_3_haproxy_to_1'])})")  # fmt: skip
        add("7 shared state", "30 identical over 3 replicas: calls",
            h["cross_replica_singleflight_calls"])  # fmt: skip
        add("7 shared state", f"rate limit {h['rate_limit']}: admitted",
            h["cross_replica_rate_limit_admitted"])  # fmt: skip
    return out


def _cells(results: dict[str, Any]) -> list[tuple[str, str, str, str, bool | None]]:
    bar_text = {b.key: b.text for b in BARS}
    verdicts = results.get("bars", {})
    return [
        (section, label, value, bar_text.get(key, ""), verdicts.get(key, {}).get("ok"))
        for section, label, value, key in rows(results)
    ]


def machine_line(results: dict[str, Any]) -> str:
    machine = results.get("machine", {})
    return (
        f"{machine.get('cpu_model')} · {machine.get('cores')} cores · Python "
        f"{machine.get('python')} · {machine.get('date')} · load average "
        f"{machine.get('load_average_at_start')} → {machine.get('load_average_at_end')}"
    )


def print_table(results: dict[str, Any], console: Console | None = None) -> None:
    # Piped (make bench | tee), rich would wrap at 80 columns.
    console = console or Console(width=None if sys.stdout.isatty() else 132)
    table = Table(title="Benchmarks", show_lines=False)
    for column in ("benchmark", "measure", "value", "bar", "ok"):
        table.add_column(column)
    marks = {True: "[green]yes[/green]", False: "[red]NO[/red]", None: ""}
    for section, label, value, bar, ok in _cells(results):
        table.add_row(section, label, value, bar, marks[ok])
    console.print(table)
    console.print(machine_line(results))


def markdown_table(results: dict[str, Any]) -> str:
    """The same table as Markdown, for the README."""
    marks = {True: "yes", False: "**no**", None: ""}
    lines = ["| benchmark | measure | value | bar | ok |", "| --- | --- | --- | --- | --- |"]
    for section, label, value, bar, ok in _cells(results):
        cells = (section, label.strip(), value, bar, marks[ok])
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n\n" + machine_line(results) + "\n"
