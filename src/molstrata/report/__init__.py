"""Reports: Markdown tables, PNG figures and ``report.md`` of a run folder.

:func:`build_report` reads a probe run's tables (``probe_results.csv``, ``summary.csv``,
``config.toml``) and computes no score itself; ``molstrata report DIR`` calls it.
"""

from molstrata.report.build import build_report

__all__ = ["build_report"]
