"""The alert rules that ship with the product are valid and do what they say: each one has a
promtool unit test with series that fire it and series that must not."""

import yaml

from tests.support.prometheus import PROMETHEUS_CONFIG, RULE_TESTS, RULES, promtool


def alert_names() -> set[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}


def test_the_rules_and_the_prometheus_config_are_valid() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = promtool("check", "config", str(PROMETHEUS_CONFIG))
    assert config.returncode == 0, config.stdout + config.stderr


def test_every_rules_unit_test_passes() -> None:
    result = promtool("test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS)


def test_every_alert_is_tested_both_firing_and_silent() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    alerts = alert_names()
    assert len(alerts) >= 9
    assert alerts - firing == set(), "alerts no test makes fire"
    assert alerts - silent == set(), "alerts no test shows staying silent"
