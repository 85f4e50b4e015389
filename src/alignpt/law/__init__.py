"""Dose-response laws: how the injected share, pretraining tokens and model size move logit P(D|U).

    from alignpt.law import LawData, LawPoint, fit_law, share_or_count
    fit = fit_law(data)                     # choose a form by CHOICE_RULE, bootstrap over seeds
    fit.predict(share=0.01, tokens=10**9, params=10**8)
    share_or_count(data)["verdict"]         # "share" | "count" | "inconclusive" | "not testable"
"""

from alignpt.law.data import LawData, LawPoint
from alignpt.law.fit import CHOICE_RULE, LawFit, Prediction, fit_law
from alignpt.law.forms import FORMS, Form, FormFit, fit_form
from alignpt.law.share_count import SHARE_COUNT_RULE, share_or_count

__all__ = [
    "CHOICE_RULE", "FORMS", "Form", "FormFit", "LawData", "LawFit", "LawPoint", "Prediction",
    "SHARE_COUNT_RULE", "fit_form", "fit_law", "share_or_count",
]
