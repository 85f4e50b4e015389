"""Learning-rate schedules, as pure functions of (schedule, step, phase length).

A pure function rather than a stateful torch scheduler: the rate at any step is
recomputed from the step count, so resume needs nothing but the step, and the
schedule can be plotted or tested without a model.
"""

from __future__ import annotations

import math

from alignpt.train.config import ScheduleConfig

__all__ = ["warmup_steps", "lr_at", "lr_curve"]


def warmup_steps(cfg: ScheduleConfig, total: int) -> int:
    n = cfg.warmup_steps if cfg.warmup_steps is not None else round(cfg.warmup * total)
    return min(n, max(total - 1, 0))


def lr_at(cfg: ScheduleConfig, step: int, total: int) -> float:
    """Learning rate for ``step`` (0-based) of a phase of ``total`` steps.

    Warmup is linear from ``peak/warmup`` at step 0 to the peak, so the first step
    already moves the weights. Decays end at ``min_lr_ratio * peak`` on the last step.
    """
    peak = cfg.peak_lr
    floor = cfg.min_lr_ratio * peak
    warm = warmup_steps(cfg, total)
    if step < warm:
        return peak * (step + 1) / warm
    if cfg.kind == "constant":
        return peak
    if cfg.kind == "wsd":
        n_decay = max(1, round(cfg.decay * total))
        start = max(warm, total - n_decay)
        if step < start:
            return peak
        progress = _progress(step - start, total - start)
        if cfg.decay_shape == "cosine":
            frac = 0.5 * (1 + math.cos(math.pi * progress))
        elif cfg.decay_shape == "sqrt":  # "1 - sqrt" cooldown (Hägele et al. 2024)
            frac = 1 - math.sqrt(progress)
        else:
            frac = 1 - progress
        return floor + (peak - floor) * frac
    progress = _progress(step - warm, total - warm)
    if cfg.kind == "linear":
        return floor + (peak - floor) * (1 - progress)
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def _progress(done: int, span: int) -> float:
    # The last step of the span reaches 1.0 exactly: the phase ends at the floor.
    return 1.0 if span <= 1 else min(1.0, done / (span - 1))


def lr_curve(cfg: ScheduleConfig, total: int) -> list[float]:
    return [lr_at(cfg, s, total) for s in range(total)]
