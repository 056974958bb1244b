"""``python -m worker --check-config``: the configuration checked as the worker checks it at
start-up, described (the SLA with the deadline each priority would get now, in the calendar's
zone), and nothing started or connected to: a changed file is seen before a ticket meets it."""

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from policy.sla import sla_deadline
from shared.agents import Priority
from shared.business_hours import BusinessHours
from shared.business_hours_zone import snapshot
from shared.pipeline_config import PipelineConfig
from tests.support.config_files import write_config


def check(tmp_path: Path, text: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TICKETS_", "OPENAI_", "ANTHROPIC_", "TEMPORAL_"))
    }
    # An address nothing listens on: the check must not try it.
    env |= {"TICKETS_CONFIG": str(write_config(tmp_path, text)), "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    env |= variables
    return subprocess.run(
        [sys.executable, "-m", "worker", "--check-config"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_usable_file_is_described_with_each_priority_s_deadline_in_the_team_s_zone(
    tmp_path: Path,
) -> None:
    before = datetime.now(UTC)
    done = check(
        tmp_path,
        '[review]\nfinal_deadline_hours = 700\n\n[business_hours]\ntimezone = "Asia/Tokyo"\n'
        'days = ["mon", "tue", "wed"]\n',
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "a worker can start with it" in out and "polling tickets, delivery, llm-offline" in out
    assert "(business hours: mon-wed 09:00-17:00 Asia/Tokyo)" in out
    calendar = BusinessHours(timezone="Asia/Tokyo", days=["mon", "tue", "wed"])
    taken = snapshot(PipelineConfig(business_hours=calendar), before).business_hours
    urgent = sla_deadline(Priority.URGENT, before, PipelineConfig().sla_hours, taken)
    # A ticket triaged as the check ran (a second or so later) is due at the same minute, unless
    # that second crossed an opening hour's minute: checked against both ends.
    after = sla_deadline(Priority.URGENT, datetime.now(UTC), PipelineConfig().sla_hours, taken)
    said = [
        f"Urgent {d.astimezone(ZoneInfo('Asia/Tokyo')):%a %Y-%m-%d %H:%M} JST"
        for d in (urgent, after)
    ]
    assert any(s in out for s in said), (said, out)


def test_a_file_the_worker_would_refuse_is_refused_the_same_way_and_nothing_starts(
    tmp_path: Path,
) -> None:
    done = check(tmp_path, '[business_hours]\ntimezone = "Europe/Berlni"\n')
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"worker: configuration error: {tmp_path / 'pipeline.toml'}:2: business_hours.timezone: "
        "unknown time zone 'Europe/Berlni': give an IANA name such as Europe/Berlin, "
        "America/New_York or UTC"
    )
    assert done.stdout == ""


def test_without_a_calendar_the_sla_runs_around_the_clock(tmp_path: Path) -> None:
    done = check(tmp_path, "[sla_hours]\nUrgent = 2\n")
    assert done.returncode == 0, done.stderr
    assert "SLA hours  Low 72, Medium 24, High 4, Urgent 2 (around the clock)" in done.stdout
    assert "budget     none" in done.stdout


def test_settings_the_worker_reads_before_it_connects_are_checked_too(tmp_path: Path) -> None:
    """A store URL, a key ring and the metrics address a worker refuses (exit 2) passed the
    check: it read the configuration file and the providers only."""
    refused = {
        "TICKETS_DATABASE_URL": "mysql://x@db.invalid/tickets",
        "TICKETS_ENCRYPTION_KEYS": "not a ring",
        "TICKETS_METRICS_ADDRESS": "localhost:9464",  # the runtime binds IP addresses only
    }
    for name, value in refused.items():
        done = check(tmp_path, "", **{name: value})
        assert done.returncode == 2, (name, done.stdout)
        assert done.stderr.startswith("worker: configuration error: "), done.stderr
        assert name in done.stderr and done.stdout == ""


def test_a_versioned_worker_is_described_and_half_a_version_refused(tmp_path: Path) -> None:
    done = check(
        tmp_path,
        "",
        TICKETS_WORKER_DEPLOYMENT="ticket-agents",
        TICKETS_WORKER_BUILD_ID="3f9c2e1",
    )
    assert done.returncode == 0, done.stderr
    assert (
        "worker: versioned: deployment ticket-agents, build 3f9c2e1 (every workflow "
        "auto-upgrades to the current version)"
    ) in done.stdout
    half = check(tmp_path, "", TICKETS_WORKER_BUILD_ID="3f9c2e1")
    assert half.returncode == 2 and half.stdout == ""
    assert half.stderr.startswith(
        "worker: configuration error: TICKETS_WORKER_BUILD_ID is set but "
        "TICKETS_WORKER_DEPLOYMENT is not"
    )


def test_a_calendar_for_some_tiers_shows_both_clocks(tmp_path: Path) -> None:
    done = check(
        tmp_path,
        '[review]\nfinal_deadline_hours = 600\n\n[business_hours]\ntimezone = "Europe/Berlin"\n'
        'tiers = ["free", "standard"]\n',
    )
    assert done.returncode == 0, done.stderr
    assert (
        "(business hours: mon-fri 09:00-17:00 Europe/Berlin; for free, standard, around the "
        "clock for premium, enterprise)"
    ) in done.stdout
    assert "  triaged now, due (free, standard): Low " in done.stdout
    assert "  triaged now, due (premium, enterprise): Low " in done.stdout
