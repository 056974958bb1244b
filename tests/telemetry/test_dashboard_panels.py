"""The dashboard's hourly panels count a series that appeared within the hour whole, as the
alert rules do: a counter (or histogram) series is born at its first event's value, which
increase() cannot see, so a worker's first REJECTED, UNANSWERED or FAILED ticket, its first
call's cost and a rare review's wait read zero (or nothing) on the panels. Each panel's query,
read from the shipped dashboard, is evaluated by promtool against series that show it."""

import json
from pathlib import Path

import yaml

from tests.support.prometheus import DASHBOARD, promtool

UP = 'up{job="ticket-workers", instance="w1:9464"}'
WORKER = 'instance="w1:9464", job="ticket-workers"'


def panel_query(title: str, target: int = 0) -> str:
    dashboard = json.loads(DASHBOARD.read_text())
    [panel] = [p for p in dashboard["panels"] if p.get("title") == title]
    return str(panel["targets"][target]["expr"])


def test_the_hourly_panels_count_a_series_born_within_the_hour(tmp_path: Path) -> None:
    # Prometheus has scraped the worker for two hours; at 100m a REJECTED ticket, a call's cost
    # and a review's wait are recorded for the first time, each a new series at its value.
    new_at_100m = "_x100 {value}x50"
    series = [
        (UP, "1x150"),
        (f'tickets_finished_total{{{WORKER}, state="COMPLETED", category="Billing"}}', "5x150"),
        (
            f'tickets_finished_total{{{WORKER}, state="REJECTED", category="Billing"}}',
            new_at_100m.format(value=1),
        ),
        (
            f'tickets_llm_cost_usd_sum{{{WORKER}, model="gpt-4o"}}',
            new_at_100m.format(value=0.25),
        ),
        (f'tickets_llm_cost_usd_sum{{{WORKER}, model="claude"}}', "0+0.25x150"),
        *(
            (
                f'tickets_review_wait_seconds_bucket{{{WORKER}, action="approve", le="{le}"}}',
                new_at_100m.format(value=count),
            )
            for le, count in (("60", 0), ("3600", 1), ("+Inf", 1))
        ),
        # A first FAILED ticket's time to its final state, and a first ticket's cost.
        *(
            (
                f'tickets_resolution_seconds_bucket{{{WORKER}, state="FAILED", le="{le}"}}',
                new_at_100m.format(value=count),
            )
            for le, count in (("60", 0), ("3600", 1), ("+Inf", 1))
        ),
        *(
            (
                f'tickets_cost_per_ticket_usd_bucket{{{WORKER}, category="Billing", le="{le}"}}',
                new_at_100m.format(value=count),
            )
            for le, count in (("0.01", 0), ("0.1", 1), ("+Inf", 1))
        ),
        # Completed tickets: 30 in the hour with their SLA met; the first one missed at 100m.
        (
            f'tickets_finished_total{{{WORKER}, state="COMPLETED", sla="met", category="A"}}',
            "0+1x150",
        ),
        (
            f'tickets_finished_total{{{WORKER}, state="COMPLETED", sla="missed", category="A"}}',
            new_at_100m.format(value=1),
        ),
    ]
    checks = [
        (
            panel_query("Tickets finished per hour, by final state"),
            # COMPLETED: the 60 with their SLA met in the hour and the first one missed.
            [('{state="COMPLETED"}', 61), ('{state="REJECTED"}', 1)],
        ),
        (
            panel_query("Cost per hour (USD), by model, and the limit"),
            [('{model="claude"}', 15), ('{model="gpt-4o"}', 0.25)],
        ),
        # The limit is on all models together (SpendAboveLimit): a line per model stayed below
        # it while their sum paged. The second model's cost is as old as the scrape.
        (panel_query("Cost per hour (USD), by model, and the limit", 1), [("{}", 15.25)]),
        # One wait within the 60 s - 1 h bucket: its 0.9 quantile, where rate() gave no data.
        (panel_query("Review wait p90 (request to decision)"), [("{}", 60 + (3600 - 60) * 0.9)]),
        # The same for the first FAILED ticket and the first ticket's cost (rate() gave none).
        (
            panel_query("Time from a ticket's start to its final state p90, by state"),
            [('{state="FAILED"}', 60 + (3600 - 60) * 0.9)],
        ),
        (
            panel_query(
                "Cost per ticket p90 (USD), by category; share of answers sent past their SLA"
            ),
            [('{category="Billing"}', 0.01 + (0.1 - 0.01) * 0.9)],
        ),
        # 1 missed of 61 with a known SLA (60 met in the hour, and the first missed): rate()
        # read 0.
        (
            panel_query(
                "Cost per ticket p90 (USD), by category; share of answers sent past their SLA", 1
            ),
            [("{}", 1 / 61)],
        ),
    ]
    case = {
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in series],
                "promql_expr_test": [
                    {
                        "expr": expr,
                        "eval_time": "130m",
                        "exp_samples": [{"labels": lbl, "value": value} for lbl, value in exp],
                    }
                    for expr, exp in checks
                ],
            }
        ],
    }
    path = tmp_path / "panels_test.yml"
    path.write_text(yaml.safe_dump(case))

    result = promtool("test", "rules", str(path))

    assert result.returncode == 0, result.stdout + result.stderr
