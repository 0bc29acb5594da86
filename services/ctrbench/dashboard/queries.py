"""Evaluate a dashboard's queries on a real Prometheus the way Grafana would.

Grafana's variables are substituted as Grafana does: ``$__interval`` = range / max data points,
floored at the scrape interval; ``$__rate_interval`` = max(``$__interval`` + scrape interval,
4 x scrape interval); ``$__range`` = the range. Then each target goes through
``/api/v1/query_range`` over the given time range with ``$__interval`` as step.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctrbench.errors import ConfigError, ServiceUnavailable

__all__ = ["PanelQuery", "QueryResult", "default_dashboard_path", "evaluate", "grafana_intervals", "panel_queries",
           "substitute"]

# Grafana's default max data points for a panel is about its width in pixels.
MAX_DATA_POINTS = 1000


@dataclass(frozen=True)
class PanelQuery:
    """One target of one panel."""

    panel_id: int
    title: str
    unit: str
    kind: str
    expr: str
    legend: str
    right_axis: tuple[str, ...] = ()  # series names the panel draws against a right-hand axis


@dataclass
class QueryResult:
    """A query's answer: series as (legend, [(t, value), ...])."""

    query: PanelQuery
    expr: str  # after substitution
    series: list[tuple[str, list[tuple[float, float]]]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """No series, or only NaN points (e.g. a quantile over a window with no observations)."""
        return not any(math.isfinite(v) for _name, points in self.series for _t, v in points)


def default_dashboard_path() -> Path:
    """The chart's dashboard file in this checkout (the package lives in services/ next to helm/)."""
    return Path(__file__).resolve().parents[3] / "helm" / "files" / "dashboards" / "ctr-pipeline.json"


def panel_queries(dashboard: dict[str, Any]) -> list[PanelQuery]:
    """Every target of every panel (rows have none), in panel order."""
    out = []
    for panel in dashboard["panels"]:
        field_config = panel.get("fieldConfig", {})
        unit = field_config.get("defaults", {}).get("unit", "")
        right = tuple(o["matcher"]["options"] for o in field_config.get("overrides", [])
                      if o["matcher"]["id"] == "byName"
                      and {"id": "custom.axisPlacement", "value": "right"} in o["properties"])
        for target in panel.get("targets", []):
            out.append(PanelQuery(panel["id"], panel["title"], unit, panel["type"], target["expr"],
                                  target.get("legendFormat", ""), right))
    return out


def grafana_intervals(range_s: float, scrape_s: float, max_points: int = MAX_DATA_POINTS) -> tuple[float, float]:
    """(``$__interval``, ``$__rate_interval``) in seconds for a time range."""
    interval = max(range_s / max_points, scrape_s)
    return interval, max(interval + scrape_s, 4 * scrape_s)


def _duration(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def substitute(expr: str, range_s: float, scrape_s: float) -> str:
    """``expr`` with Grafana's global variables replaced (``$__rate_interval`` first: it contains ``$__interval``)."""
    interval, rate_interval = grafana_intervals(range_s, scrape_s)
    return (expr.replace("$__rate_interval", _duration(rate_interval)).replace("$__interval", _duration(interval))
            .replace("$__range", _duration(range_s)))


def _legend(template: str, labels: dict[str, str]) -> str:
    if not template:
        return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
    out = template
    for key, value in labels.items():
        out = out.replace("{{" + key + "}}", value).replace("{{ " + key + " }}", value)
    return out


def _query_range(prometheus: str, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
    params = urllib.parse.urlencode({"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}",
                                     "step": f"{step:.3f}"})
    url = f"{prometheus.rstrip('/')}/api/v1/query_range?{params}"
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
        raise ConfigError(f"Prometheus rejected {expr!r}: {detail}") from None
    except OSError as exc:
        raise ServiceUnavailable(f"Prometheus at {prometheus}: {exc}") from None
    if body.get("status") != "success":
        raise ConfigError(f"Prometheus could not evaluate {expr!r}: {body.get('error')}")
    return list(body["data"]["result"])


def evaluate(dashboard: dict[str, Any], prometheus: str, start: float, end: float,
             scrape_s: float) -> list[QueryResult]:
    """Run every panel query over [start, end] (epoch seconds) as Grafana would; one result per target."""
    if end <= start:
        raise ConfigError(f"time range {start:.0f}..{end:.0f}: the end must come after the start")
    interval, _rate = grafana_intervals(end - start, scrape_s)
    results = []
    for query in panel_queries(dashboard):
        expr = substitute(query.expr, end - start, scrape_s)
        result = QueryResult(query, expr)
        for series in _query_range(prometheus, expr, start, end, interval):
            points = [(float(t), float(v)) for t, v in series["values"]]
            result.series.append((_legend(query.legend, series["metric"]), points))
        results.append(result)
    return results
