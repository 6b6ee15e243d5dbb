"""optimizer: the analyzer, Stage A prescreen, Stage B Bayesian search and bounded proposals (issue 5)."""

__all__: list[str] = []
