"""The Grafana dashboard: generated from one spec, valid by construction, every query proven on a real Prometheus.

No Grafana server can run here (see README): the JSON comes from grafana-foundation-sdk's builders and
each query is evaluated through Prometheus's HTTP API with Grafana's variables substituted as Grafana
does, after a real 60 s run (``live_run``) was scraped.
"""

from __future__ import annotations

import json
import re

import pytest

from ctrbench.dashboard.grafana import dashboard_json
from ctrbench.dashboard.queries import default_dashboard_path, evaluate, grafana_intervals, panel_queries, substitute


def _dashboard() -> dict:
    return json.loads(default_dashboard_path().read_text())


def test_the_chart_ships_the_generated_dashboard():
    assert default_dashboard_path().read_text() == dashboard_json(), (
        "helm/files/dashboards/ctr-pipeline.json is stale: run `ctrbench dashboard build`")


def test_every_panel_has_a_unique_id_a_unit_a_description_and_the_datasource_variable():
    dash = _dashboard()
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert [v["name"] for v in dash["templating"]["list"]] == ["datasource"]
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    assert len(panels) >= 14
    for p in panels:
        assert p["description"], p["title"]
        assert p["fieldConfig"]["defaults"]["unit"], p["title"]
        assert p["datasource"] == {"type": "prometheus", "uid": "$datasource"}, p["title"]
        assert p["targets"], p["title"]


def test_rates_use_the_rate_interval_and_pushed_counters_are_never_rated():
    for q in panel_queries(_dashboard()):
        for window in re.findall(r"rate\([^\[]*\[([^\]]+)\]", q.expr):
            assert window == "$__rate_interval", q.expr
        # The report pushes its verification counters once per run: a rate over them is meaningless.
        assert not re.search(r"rate\(ctr_windows_", q.expr), q.expr


def test_grafana_variables_are_substituted_as_grafana_does():
    # 1 s scrape, 15 min range: $__interval = 900 s / 1000 points = 0.9 s, floored at the scrape interval.
    assert grafana_intervals(900, 1.0) == (1.0, 4.0)
    # 15 s scrape (Grafana's default), 6 h: interval 21.6 s; 21.6 + 15 < 4 x 15, so the rate interval is 60 s.
    assert grafana_intervals(6 * 3600, 15.0) == pytest.approx((21.6, 60.0))
    # 24 h: interval 86.4 s, rate interval 86.4 + 15 = 101.4 s.
    assert grafana_intervals(24 * 3600, 15.0) == pytest.approx((86.4, 101.4))
    assert substitute("rate(x[$__rate_interval]) + y[$__interval]", 900, 1.0) == "rate(x[4000ms]) + y[1000ms]"


@pytest.mark.integration
def test_every_dashboard_query_returns_data_from_a_real_run(live_run):
    results = evaluate(_dashboard(), live_run.prometheus, live_run.started, live_run.finished, scrape_s=1.0)
    empty = [f"{r.query.title}: {r.expr}" for r in results if r.empty]
    assert not empty, "queries with no data:\n" + "\n".join(empty)
    by_expr = {r.query.expr: r for r in results}
    # Values, not only presence: the run's configuration and the last report's counts.
    producers = by_expr["max(ctr_run_producers)"].series[0][1]
    assert producers[-1][1] == 3
    target = by_expr["max(ctr_run_target_rate_events_per_second)"].series[0][1]
    assert target[-1][1] == pytest.approx(3 * 1000)
    verified = by_expr["max(ctr_windows_verified_total)"].series[0][1]
    assert verified[-1][1] == len(live_run.result.report.collected.results)
    assert [name for name, _ in by_expr["max by (distribution) (ctr_run_info)"].series] == ["mmpp"]


@pytest.mark.integration
def test_panels_render_from_prometheus(live_run, tmp_path):
    from ctrbench.dashboard.render import render_panels

    results = evaluate(_dashboard(), live_run.prometheus, live_run.started, live_run.finished, scrape_s=1.0)
    out = render_panels(results, "CTR pipeline, 60 s run", tmp_path / "panels.png")
    # 15 panels at 90 dpi: an empty figure is far smaller. (README's picture is this file, from --basetemp.)
    assert out.stat().st_size > 50_000
