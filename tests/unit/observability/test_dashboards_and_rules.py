"""The dashboard and the alert rules as code: the checked-in JSON is what `deploy/grafana/dashboard.py` builds,
`promtool` accepts the rules, the compose scrape configuration and the devstack's own, and the rules' unit tests
(firing and not firing) pass. promtool comes from Debian's `prometheus` package, which `make test` installs: its
absence fails these tests instead of skipping them. Which metrics they read is checked against a running stack
in `tests/e2e/test_metric_coverage.py`."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from connect_devstack import paths, prometheus

ROOT = paths.repo_root()
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"


def dashboard_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("connect_dashboard", ROOT / "deploy" / "grafana" / "dashboard.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    tool = shutil.which(prometheus.PROMTOOL)
    assert tool is not None, "promtool is missing: `make install` installs Debian's prometheus package"
    return subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def test_the_checked_in_dashboard_is_what_the_code_builds() -> None:
    module = dashboard_module()
    assert module.OUTPUT.read_text() == module.render(), "run deploy/grafana/dashboard.py to regenerate"


def test_every_panel_has_a_title_a_unit_and_a_query_on_the_chosen_datasource() -> None:
    model = dashboard_module().build()
    panels = [p for p in model["panels"] if p["type"] != "row"]
    assert len(panels) >= 15
    for panel in panels:
        assert panel["title"] and panel["fieldConfig"]["defaults"]["unit"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]
    titles = [p["title"] for p in model["panels"] if p["type"] == "row"]
    assert titles == ["Runs", "Throughput", "Failures and rejects", "Scheduler and commands", "Lags", "API"]


def test_the_check_mode_fails_on_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = dashboard_module()
    stale = tmp_path / "connect.json"
    stale.write_text("{}\n")
    monkeypatch.setattr(module, "OUTPUT", stale)
    monkeypatch.setattr(sys, "argv", ["dashboard.py", "--check"])
    with pytest.raises(SystemExit) as stopped:
        module.main()
    assert stopped.value.code == 1


def test_promtool_accepts_the_rules() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 7 rules found" in checked.stdout


def test_the_rules_fire_when_they_should_and_only_then() -> None:
    tested = promtool("test", "rules", "rules.test.yml", cwd=RULES.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_is_unit_tested_and_every_alert_has_a_severity_and_words() -> None:
    alerts = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    tests = yaml.safe_load((RULES.parent / "rules.test.yml").read_text())["tests"]
    tested = {case["alertname"] for t in tests for case in t["alert_rule_test"] if case["exp_alerts"]}
    assert tested == {a["alert"] for a in alerts}
    for alert in alerts:
        assert alert["labels"]["severity"] in {"warning", "critical"}, alert["alert"]
        assert alert["annotations"]["summary"] and alert["annotations"]["description"], alert["alert"]


def test_the_compose_and_devstack_scrape_configurations_are_valid(tmp_path: Path) -> None:
    compose = promtool("check", "config", "--syntax-only", str(ROOT / "deploy" / "prometheus" / "prometheus.yml"))
    assert compose.returncode == 0, compose.stdout + compose.stderr
    env = {var: str(9100 + i) for i, var in enumerate(prometheus.TARGET_PORTS.values())}
    local = tmp_path / "prometheus.yml"
    local.write_text(prometheus.config(env, RULES))
    checked = promtool("check", "config", str(local))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    jobs = {job["job_name"] for job in yaml.safe_load(local.read_text())["scrape_configs"]}
    assert jobs == set(prometheus.TARGET_PORTS)
