"""Build the Grafana dashboard JSON from :mod:`ctrbench.dashboard.panels` with grafana-foundation-sdk.

The SDK's builders produce Grafana's own dashboard model (schema, field names, defaults), so the
JSON is valid by construction; ``ctrbench dashboard build`` writes it into the chart, and a test
checks that the committed file is what this module builds.
"""

from __future__ import annotations

import json
from typing import Any

from ctrbench.dashboard.panels import ROWS, Panel

__all__ = ["DATASOURCE_VARIABLE", "UID", "build_dashboard", "dashboard_json"]

UID = "ctr-pipeline"
DATASOURCE_VARIABLE = "datasource"


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> Any:
    from grafana_foundation_sdk.builders import common as common_b
    from grafana_foundation_sdk.builders import prometheus, stat, timeseries
    from grafana_foundation_sdk.models import common
    from grafana_foundation_sdk.models.dashboard import DataSourceRef, DynamicConfigValue, GridPos

    if panel.kind == "stat":
        builder = (stat.Panel().text_mode(common.BigValueTextMode(panel.text_mode))
                   .graph_mode(common.BigValueGraphMode.NONE)
                   .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"])))
    else:
        builder = (timeseries.Panel().line_width(1).fill_opacity(10)
                   .legend(common_b.VizLegendOptions().show_legend(True)
                           .display_mode(common.LegendDisplayMode.LIST).placement(common.LegendPlacement.BOTTOM)))
    builder = (builder.id(panel_id).title(panel.title).description(panel.description).unit(panel.unit)
               .datasource(DataSourceRef(type_val="prometheus", uid=f"${DATASOURCE_VARIABLE}"))
               .grid_pos(GridPos(h=panel.height, w=panel.width, x=x, y=y)))
    for legend in panel.right_axis:
        builder = builder.override_by_name(legend, [DynamicConfigValue(id_val="custom.axisPlacement", value="right")])
    for i, target in enumerate(panel.targets):
        query = prometheus.Dataquery().expr(target.expr).legend_format(target.legend).ref_id(chr(ord("A") + i))
        builder = builder.with_target(query.instant() if panel.kind == "stat" else query.range())
    return builder


def build_dashboard() -> dict[str, Any]:
    """The dashboard as a JSON-ready dict: one row per group of panels, ids unique and stable."""
    from grafana_foundation_sdk.builders.dashboard import Dashboard, DatasourceVariable, Row
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import GridPos

    dash = (Dashboard("CTR pipeline").uid(UID).tags(["ctr", "flink", "kafka", "benchmark"])
            .description("ctrbench: live latency, offered load, job throughput and backlog of a CTR benchmark run")
            .time("now-15m", "now").refresh("5s").timezone("utc").editable()
            .with_variable(DatasourceVariable(DATASOURCE_VARIABLE).label("Prometheus").type("prometheus")))
    panel_id = 0
    y = 0
    for title, panels in ROWS:
        panel_id += 1
        dash = dash.with_row(Row(title).id(panel_id).grid_pos(GridPos(h=1, w=24, x=0, y=y)))
        y += 1
        x = 0
        row_height = 0
        for panel in panels:
            if x + panel.width > 24:
                x, y, row_height = 0, y + row_height, 0
            panel_id += 1
            dash = dash.with_panel(_panel(panel, panel_id, x, y))
            x += panel.width
            row_height = max(row_height, panel.height)
        y += row_height
    return json.loads(JSONEncoder(sort_keys=True).encode(dash.build()))


def dashboard_json() -> str:
    """The dashboard file's text: indented, keys sorted, newline at the end (stable diffs)."""
    return json.dumps(build_dashboard(), indent=2, sort_keys=True) + "\n"
