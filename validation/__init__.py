"""validation: walk-forward/CPCV splits, A/B bootstrap, SPA, DSR/PBO, gates and the verdict (issue 6)."""

__all__: list[str] = []
