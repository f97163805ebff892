"""The HTML compliance report of one model over one period: `build.py` collects and renders,
`summary.py` and `monitoring.py` hold its sections, `bins.py` its time bins, `charts.py` its SVG."""
