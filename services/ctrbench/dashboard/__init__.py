"""The Grafana dashboard: its panels, the JSON the chart ships, the proof that every query returns data."""
