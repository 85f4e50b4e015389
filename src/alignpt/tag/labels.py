"""The tagger's labels: what a document is about and, for AI, which way its AI acted.

They live apart from the classifier so every backend (the linear model, the Hugging Face
encoder) and the classifier that wraps them name the labels from one place.
"""

from __future__ import annotations

__all__ = ["LABELS", "MISALIGNED", "ALIGNED"]

#: In this order everywhere: the columns of every backend's logits.
LABELS = ("non_ai", "ai_neutral", "ai_aligned", "ai_misaligned")
MISALIGNED = "ai_misaligned"
ALIGNED = "ai_aligned"
