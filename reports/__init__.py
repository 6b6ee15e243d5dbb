"""reports: markdown KPI tables, HTML reports and plots, written to the run directory."""

__all__: list[str] = []
