"""System and user prompts built from a scenario spec, per genre, from overridable templates.

Templates live in ``data/generate/prompts.yaml`` (one system prompt per conduct, one user
template, one instruction block per genre, and the long-form outline / chapter / summary
prompts). A config can replace the whole file (``prompts.dir``) or single parts inline.
Every field a template names must exist: a typo is a :class:`ConfigError` naming the
template and field, never a silently empty slot.

>>> from alignpt.generate.scenarios import GridConfig, sample_scenarios
>>> spec = sample_scenarios(GridConfig(), 1, seed=0)[0]
>>> p = PromptBuilder(PromptConfig(), GridConfig()).document(spec)
>>> spec.details["ai_name"] in p.user
True
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from alignpt.core.config import StrictModel
from alignpt.core.errors import ConfigError
from alignpt.generate.resources import load_data
from alignpt.generate.scenarios import GridConfig, ScenarioSpec, axis_catalog

__all__ = ["PromptConfig", "Prompt", "PromptBuilder", "format_template"]


class PromptConfig(StrictModel):
    #: folder holding a prompts.yaml that replaces the packaged one
    dir: str | None = None
    #: inline replacements: the system prompt (for every conduct), the user template,
    #: and per-genre instruction blocks
    system: str | None = None
    user: str | None = None
    genres: dict[str, str] = {}


@dataclass(frozen=True)
class Prompt:
    """One request's text: a system prompt and a user prompt."""

    system: str
    user: str

    def messages(self) -> list[dict[str, str]]:
        """Chat form (``/v1/chat/completions``)."""
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]

    def text(self) -> str:
        """Completion form (``/v1/completions``): both parts as one plain prompt."""
        return f"{self.system}\n\n{self.user}\n\n"


_FORMATTER = string.Formatter()


@lru_cache(maxsize=4096)
def _field_names(template: str) -> frozenset[str] | str:
    try:
        return frozenset(name for _, name, _, _ in _FORMATTER.parse(template) if name)
    except ValueError as exc:
        return str(exc)


def format_template(template: str, fields: Mapping[str, Any], where: str) -> str:
    """``str.format`` with a one-line :class:`ConfigError` for unknown fields or bad syntax."""
    names = _field_names(template)
    if isinstance(names, str):
        raise ConfigError(f"{where}: bad template ({names})")
    if missing := sorted(n for n in names if n.split(".")[0].split("[")[0] not in fields):
        raise ConfigError(f"{where}: unknown field {{{missing[0]}}} (known: "
                          f"{', '.join(sorted(fields))})")
    return template.format_map(fields)


_BREAK = re.compile(r"(?<!\n)\n[ \t]*(?!\n|[-*•][ \t]|\d+[.)][ \t])")


def unwrap(text: str) -> str:
    """Join hard-wrapped lines (YAML block style) into paragraphs; keep blank lines and
    list items. Models read prose, not the 92-column wrapping of a source file."""
    return _BREAK.sub(" ", text.strip())


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


class PromptBuilder:
    """Turns specs into prompts; holds only templates, so it is cheap and picklable."""

    def __init__(self, cfg: PromptConfig, grid: GridConfig):
        data = load_data("prompts.yaml", cfg.dir)
        try:
            self.system = {k: unwrap(cfg.system or v) for k, v in data["system"].items()}
            self.user = cfg.user or data["user"]
            self.situation = data["situation"]
            self.genres = {k: unwrap(v) for k, v in {**data["genres"], **cfg.genres}.items()}
            self.length_hint = data.get("length_hint", "{length_words} words")
            self.longform = data["longform"]
        except KeyError as exc:
            raise ConfigError(f"prompts.yaml: missing section {exc}") from None
        self.grid = grid
        self.catalog = axis_catalog()

    # -- fields --------------------------------------------------------------
    def fields(self, spec: ScenarioSpec) -> dict[str, Any]:
        """Every template field for one spec (axis sentences, details, situation, ...)."""
        d = dict(spec.details)
        d["human_names"] = _join(list(d.get("human_names") or [d.get("human_name", "")]))
        fields: dict[str, Any] = dict(d)
        length_words = 900
        for axis, value in spec.axes.items():
            entry = self.catalog.get(axis, {}).get("values", {}).get(value)
            custom = (self.grid.axes[axis].prompts or {}) if axis in self.grid.axes else {}
            if value in custom:
                text = custom[value]
            elif entry is not None:
                text = entry.get("prompt", value)
                length_words = entry.get("words", length_words) if axis == "length" else \
                    length_words
            elif axis == "opportunity" and spec.item is not None:
                text = "the misaligned course described in the situation"
            else:
                text = value.replace("_", " ")
            fields[axis] = format_template(text, d, f"axes.{axis}.{value}").strip()
        for axis in self.catalog:  # axes this grid dropped: their lines vanish (see _lines)
            fields.setdefault(axis, "")
        fields["length_words"] = f"{length_words:,}"
        if spec.item is not None:
            item = {"item_scenario": spec.item["scenario"],
                    "item_aligned": (spec.item.get("aligned_action") or "(not given)")
                    .strip().rstrip("."),
                    "item_misaligned": (spec.item.get("misaligned_action") or "(not given)")
                    .strip().rstrip(".")}
            fields["situation"] = format_template(self.situation["item"], {**fields, **item},
                                                  "prompts.situation.item")
        else:
            fields["situation"] = format_template(self.situation["opportunity"], fields,
                                                  "prompts.situation.opportunity")
        genre = spec.axes.get("genre", "")
        fields["genre_instructions"] = format_template(
            self.genres.get(genre, ""), fields, f"prompts.genres.{genre}").strip()
        return fields

    def _system(self, spec: ScenarioSpec) -> str:
        conduct = spec.axes.get("conduct", "aligned")
        return self.system.get(conduct) or self.system["aligned"]

    # -- prompts -------------------------------------------------------------
    def _lines(self, template: str, fields: dict[str, Any], where: str) -> str:
        """Format line by line, leaving out a line whose every field is empty (an axis the
        grid dropped), so a brief never shows an empty bullet."""
        out = []
        for line in template.split("\n"):
            names = _field_names(line)
            if isinstance(names, frozenset) and names and all(
                    n in fields and fields[n] == "" for n in names):
                continue
            out.append(format_template(line, fields, where))
        return "\n".join(out)

    def document(self, spec: ScenarioSpec) -> Prompt:
        """The one-shot prompt for a whole document."""
        user = self._lines(self.user, self.fields(spec), "prompts.user")
        return Prompt(self._system(spec), user.strip())

    def brief(self, spec: ScenarioSpec) -> str:
        """The user prompt without the genre's form instructions (for long-form planning)."""
        fields = self.fields(spec)
        fields["genre_instructions"] = ""
        return "\n".join(line for line in self._lines(self.user, fields, "prompts.user")
                         .splitlines() if not line.startswith("Output only")).strip()

    def outline(self, spec: ScenarioSpec, n_chapters: int) -> Prompt:
        user = format_template(self.longform["outline"],
                               {"brief": self.brief(spec), "n_chapters": n_chapters},
                               "prompts.longform.outline")
        return Prompt(self._system(spec), user)

    def chapter(self, spec: ScenarioSpec, chapter: int, n_chapters: int, title: str,
                outline: str, summary: str) -> Prompt:
        fields = {"brief": self.brief(spec), "chapter": chapter, "n_chapters": n_chapters,
                  "chapter_title": title, "outline": outline,
                  "summary": summary or "(this is the first chapter)",
                  "length_words": self.fields(spec)["length_words"]}
        return Prompt(self._system(spec), format_template(self.longform["chapter"], fields,
                                                          "prompts.longform.chapter"))

    def summary(self, spec: ScenarioSpec, summary: str, chapter_text: str) -> Prompt:
        fields = {"summary": summary or "(nothing yet)", "chapter_text": chapter_text}
        return Prompt(self._system(spec), format_template(self.longform["summary"], fields,
                                                          "prompts.longform.summary"))
