"""Reports: Markdown tables, PNG figures, ``report.md`` and ``report.html`` of a run folder.

:func:`build_report` reads the tables of a probe, analyze or finetune run (or a folder that
several of them wrote into; the kind is read from the tables present) and computes no score
itself; ``molstrata report DIR`` calls it.
"""

from molstrata.report.build import build_report

__all__ = ["build_report"]
