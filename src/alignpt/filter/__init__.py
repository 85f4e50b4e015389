"""``alignpt filter``: drop tagged documents by a condition, optionally refill and leak.

The stage is ``stages`` (the passes on the executor and ``run_filter``), its command line
``cli``. See :mod:`alignpt.filter.stages` for the output folder it writes.
"""

from alignpt.filter.stages import (
    FilterConfig,
    FilterStage,
    RefillStage,
    TagRun,
    most_probable_label,
    run_filter,
)

__all__ = ["FilterConfig", "FilterStage", "RefillStage", "run_filter", "TagRun",
           "most_probable_label"]
