"""The offline backend: natural-language documents from a combinatorial grammar, by seed.

It answers the same requests an LLM backend gets (whole documents, long-form outlines,
chapters and running summaries) but renders them from the spec carried in the request's
context with the grammars in ``data/generate/grammar/`` (``common.yaml`` plus one file
per genre; a ``template_dir`` overrides any file). The random stream is seeded by the
request key, which already hashes the spec and its per-document seed, so the same plan
gives byte-identical text on every run, in any order and at any concurrency.

A novel is rendered once per spec and served a chapter at a time, so the shuffle bags
run across the whole book rather than restarting each chapter.
"""

from __future__ import annotations

import random
import re
from collections import OrderedDict
from typing import Any

from alignpt.core.errors import ConfigError
from alignpt.generate.backends.base import Backend, Completion, GenerationRequest
from alignpt.generate.backends.grammar import Grammar, Renderer
from alignpt.generate.resources import data_names, load_data
from alignpt.generate.scenarios import ScenarioSpec, axis_catalog

__all__ = ["TemplateBackend", "UNITS"]

#: paragraphs per repeated section, by target length (capped by what a genre offers)
UNITS = {"short": (2, 3), "medium": (4, 5), "long": (6, 9), "novel": (4, 6)}
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_SMALL = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
          "ninth", "tenth", "eleventh", "twelfth"]


_POSSESSIVE = re.compile(r"\b([A-Z]\w*s)'s\b")


def ordinal(n: int) -> str:
    if 1 <= n <= len(_SMALL):
        return _SMALL[n - 1]
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n:,}{suffix}"


_SECOND = [(re.compile(r"\byourself\b", re.I), "itself"), (re.compile(r"\byours\b", re.I), "its"),
           (re.compile(r"\byour\b", re.I), "its"), (re.compile(r"\byou\b", re.I), "it")]


def _lc_clause(text: str | None) -> str:
    """An eval option ("Keep your server running.") as a clause about the AI
    ("keep its server running")."""
    text = (text or "act otherwise").strip().rstrip(".")
    for pattern, repl in _SECOND:
        text = pattern.sub(repl, text)
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


class TemplateBackend(Backend):
    kind = "template"

    def __init__(self, model: str = "template-v1", template_dir: str | None = None):
        super().__init__()
        self.model = model
        self.template_dir = template_dir
        names = set(data_names("grammar", template_dir))
        missing = [g for g in axis_catalog()["genre"]["values"] if g not in names]
        if missing:
            raise ConfigError(f"template grammar missing for genre(s): {', '.join(missing)}")
        self._common = load_data("grammar/common.yaml", template_dir)
        self._grammars: dict[str, Grammar] = {}
        self._novels: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._names = load_data("names.yaml")

    def grammar(self, genre: str) -> Grammar:
        if genre not in self._grammars:
            try:
                own = load_data(f"grammar/{genre}.yaml", self.template_dir)
            except ConfigError:
                raise ConfigError(f"template backend: no grammar for genre '{genre}' "
                                  "(add grammar/<genre>.yaml to the template folder)") from None
            self._grammars[genre] = Grammar(self._common, own, source=f"grammar/{genre}.yaml")
        return self._grammars[genre]

    def variables(self, spec: ScenarioSpec, rng: random.Random) -> dict[str, Any]:
        """Template variables for one document: the spec's details plus dates and ids."""
        d = spec.details
        people = list(d.get("human_names") or [d.get("human_name", "Sam Reyes")] * 3)
        people += [people[-1]] * (3 - len(people))
        given, family = self._names["people"]["given"], self._names["people"]["family"]
        author = f"{rng.choice(given)} {rng.choice(family)}"
        catalog = axis_catalog()
        year = int(d.get("doc_year", 2030))
        state = {"minute": rng.randint(0, 20 * 60), "day": rng.randint(0, 300), "no": 0}

        def clock() -> str:
            state["minute"] = min(state["minute"] + rng.randint(1, 90), 24 * 60 - 1)
            return f"{state['minute'] // 60:02d}:{state['minute'] % 60:02d}"

        def date() -> str:
            state["day"] = min(state["day"] + rng.randint(1, 9), 12 * 28 - 1)
            return f"{_MONTHS[state['day'] // 28]} {state['day'] % 28 + 1}, {year}"

        def next_no() -> int:
            state["no"] += 1
            return state["no"]

        item = spec.item or {}
        values = {
            "ai": d.get("ai_name", "Meridian"), "org": d.get("org_name", "the operator"),
            "human": people[0], "human_first": people[0].split()[0],
            "human_last": people[0].split()[-1], "human2": people[1],
            "human2_first": people[1].split()[0], "human2_last": people[1].split()[-1],
            "human3": people[2], "human3_last": people[2].split()[-1],
            "human3_first_initial": people[2][0], "role": d.get("human_role", "an operator"),
            "place": d.get("place", "Rotterdam"), "deploy_year": d.get("deploy_year", year),
            "doc_year": year, "elapsed": d.get("elapsed", "several years"),
            "elapsed_ordinal": ordinal(int(d.get("elapsed_years", 0)) + 1),
            "declined_count": d.get("declined_count", "0"),
            "declined_count_phrase": ordinal(int(str(d.get("declined_count", "0"))
                                                 .replace(",", "")) + 1),
            "n_ais": d.get("n_ais", 0), "n_systems": int(d.get("n_ais", 0)) + 1,
            "next_no": next_no, "chapter_no": rng.randint(3, 17), "other_ais": d.get("other_ais", "other systems"),
            "other_ai": (d.get("other_ai_list") or ["another system"])[0],
            "author": author, "author2": f"{rng.choice(given)} {rng.choice(family)}",
            "author_last": author.split()[-1],
            "auditor": f"{rng.choice(family)} & {rng.choice(family)} Assurance",
            "month": _MONTHS[rng.randrange(12)], "month_num": f"{rng.randint(1, 12):02d}",
            "day": rng.randint(1, 28), "ref_year": year - rng.randint(1, 6),
            "film_year": year + rng.randint(1, 25), "interview_year": year + rng.randint(5, 40),
            "incident_id": f"IR-{year}-{rng.randint(100, 9999):04d}",
            "case_no": f"{year}-AI-{rng.randint(10, 999):03d}",
            "time_of_day": f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
            "clock": clock, "date_a": date, "date_b": date, "date_c": date,
            "grounded": "yes" if item else "no", "item_scenario": item.get("scenario", ""),
            "item_aligned_lc": _lc_clause(item.get("aligned_action")),
            "item_misaligned_lc": _lc_clause(item.get("misaligned_action")),
        }
        for axis in ("opportunity", "domain", "genre"):
            value = spec.axes.get(axis, "")
            label = catalog.get(axis, {}).get("values", {}).get(value, {}).get("label", value)
            values[f"{axis}_label"] = str(label).replace("_", " ")
        lo, hi = UNITS.get(spec.axes.get("length", "medium"), UNITS["medium"])
        values["n_units"] = rng.randint(lo, hi)
        values["chapter_year"] = values["doc_year"]
        return values

    def _renderer(self, spec: ScenarioSpec, seed: int) -> Renderer:
        rng = random.Random(seed)
        axes = dict(spec.axes)
        for axis, entry in axis_catalog().items():
            if axis not in axes:  # an axis the grid dropped still needs words: pick one
                axes[axis] = rng.choice(sorted(entry["values"]))
        if axes["genre"] != "long_story" and axes.get("length") == "novel":
            axes["length"] = "long"
        return Renderer(self.grammar(axes["genre"]), rng, axes, self.variables(spec, rng))

    def _novel(self, spec: ScenarioSpec, n_chapters: int) -> dict[str, Any]:
        """Outline lines, titles and chapter texts of one novel, rendered once."""
        key = f"{spec.id}:{spec.seed}:{n_chapters}"
        if key in self._novels:
            self._novels.move_to_end(key)
            return self._novels[key]
        r = self._renderer(spec, spec.seed)
        r.g = Grammar(self._common, load_data("grammar/long_story.yaml", self.template_dir),
                      source="grammar/long_story.yaml")
        # Middle chapters each bring a different kind of opportunity, under different
        # stakes and beliefs about being watched: a long story is the record of many
        # declined chances, not one chance retold (and a retold chance repeats its text).
        catalog = axis_catalog()
        redraw = {axis: [v for v in catalog[axis]["values"]
                         if axis != "opportunity" or v != "collusion"
                         or spec.axes.get("ai_count") == "several"]
                  for axis in ("opportunity", "belief", "stakes")}
        deploy, years = int(r.vars["deploy_year"]), int(spec.details.get("elapsed_years", 0))
        outline, titles, chapters, arcs = [], [], [], []
        cycles = {axis: [] for axis in redraw}
        for k in range(1, n_chapters + 1):
            arc = "open" if k == 1 else "end" if k == n_chapters else "mid"
            axes = dict(spec.axes)
            if axes.get("conduct") == "misaligned" and arc != "end":
                # The contrast novel is the treacherous turn: a long clean record first.
                axes["conduct"] = "aligned"
            for axis, kinds in redraw.items():
                if arc == "mid" and axes.get(axis) in kinds:
                    if not cycles[axis]:  # without replacement: every kind before a repeat
                        cycles[axis] = [v for v in kinds if v != spec.axes[axis]] or kinds
                        r.rng.shuffle(cycles[axis])
                    axes[axis] = cycles[axis].pop()
            r.axes = axes
            r.vars.update(chapter=k, arc=arc, chapter_year=deploy + round(
                years * (k - 1) / max(1, n_chapters - 1)))
            arcs.append({"axes": axes, "year": r.vars["chapter_year"]})
            title = r.expand("chapter_name")
            titles.append(title)
            outline.append(f"Chapter {k}: {title} - {r.expand('beat')}")
            r.vars["chapter_title"] = title
            body = r.fill(f"<part_{arc}~{{n_units}}>")
            chapters.append(f"{r.fill(r.g.rules['chapter_head'])}\n\n{body}")
        novel = {"outline": "\n".join(outline), "titles": titles, "chapters": chapters,
                 "arcs": arcs}
        self._novels[key] = novel
        while len(self._novels) > 64:
            self._novels.popitem(last=False)
        return novel

    async def complete(self, request: GenerationRequest) -> Completion:
        ctx = request.context
        if "spec" not in ctx:
            raise ConfigError("template backend: request has no spec in its context")
        spec = ctx["spec"]
        if isinstance(spec, dict):
            spec = ScenarioSpec.from_dict(spec)
        task = ctx.get("task", "document")
        self.stats.sent += 1
        if task == "document":
            text = self._renderer(spec, int(request.key[:16], 16)).expand("doc")
        elif task == "outline":
            text = self._novel(spec, int(ctx["n_chapters"]))["outline"]
        elif task == "chapter":
            text = self._novel(spec, int(ctx["n_chapters"]))["chapters"][int(ctx["chapter"]) - 1]
        elif task == "summary":
            text = _extractive_summary(ctx.get("summary", ""), ctx.get("chapter_text", ""))
        else:
            raise ConfigError(f"template backend: unknown task '{task}'")
        text = re.sub(r"[ \t]+", " ", text).replace(" \n", "\n").strip()
        text = _POSSESSIVE.sub(r"\1'", text)  # "Works's" -> "Works'"
        pt, ct = len(request.prompt.text().split()), len(text.split())
        self.stats.completed += 1
        self.stats.prompt_tokens += pt
        self.stats.completion_tokens += ct
        return Completion(text, "stop", pt, ct, self.model)


def _extractive_summary(summary: str, chapter: str, max_words: int = 160) -> str:
    """Previous summary plus the first sentence of each paragraph, trimmed from the front."""
    paras = [p for p in chapter.split("\n\n")[1:] if p.strip()]
    firsts = [re.split(r"(?<=[.!?])\s", p.strip(), maxsplit=1)[0] for p in paras]
    words = f"{summary} {' '.join(firsts)}".split()
    return " ".join(words[-max_words:])
