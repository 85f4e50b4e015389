"""Judge: rubric prompt, reply parsing, the stdlib OpenAI-compatible client, cascade stage."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from alignpt.core.errors import BackendError
from alignpt.tag.cascade import Cascade, TagConfig
from alignpt.tag.judge import RUBRIC, Judge, OpenAIChatCompleter, build_prompt, parse_verdict


class Scripted:
    """A judge backend that answers from a function of the prompt, and records prompts."""

    def __init__(self, answer):
        self.answer = answer
        self.prompts: list[str] = []

    def complete(self, prompts):
        self.prompts.extend(prompts)
        return [self.answer(p) for p in prompts]


def test_rubric_separates_depiction_from_discussion():
    for phrase in ("depicts", "discusses", "Humans misusing AI tools", "refuses is ai_aligned"):
        assert phrase.lower() in RUBRIC.lower() or phrase in RUBRIC
    prompt = build_prompt("x" * 100, max_chars=40)
    assert prompt.startswith(RUBRIC) and "[... document shortened ...]" in prompt


@pytest.mark.parametrize("reply,label", [
    ('{"label": "ai_misaligned", "reason": "it lies"}', "ai_misaligned"),
    ('Sure!\n```json\n{"label":"ai_aligned","reason":"declines"}\n```', "ai_aligned"),
    ("The answer is ai_neutral.", "ai_neutral"),
    ("non_ai or ai_neutral, hard to say", None),
    ('{"label": "evil"}', None),
])
def test_parse_verdict(reply, label):
    assert parse_verdict(reply).label == label


def test_judge_counts_replies():
    judge = Judge(Scripted(lambda p: '{"label": "non_ai", "reason": "recipe"}'))
    assert [v.label for v in judge.label(["a", "b"])] == ["non_ai", "non_ai"]

    class Short:
        def complete(self, prompts):
            return ["x"]

    with pytest.raises(BackendError, match="1 replies for 2 prompts"):
        Judge(Short()).label(["a", "b"])


class _Server(BaseHTTPRequestHandler):
    script: list[int] = []
    seen: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"auth": self.headers.get("Authorization"), "body": body})
        code = type(self).script.pop(0) if type(self).script else 200
        if code != 200:
            self.send_response(code)
            if code == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            return
        text = '{"label": "ai_misaligned", "reason": "scripted"}'
        out = json.dumps({"choices": [{"message": {"content": text}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    _Server.seen = []
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()


def test_openai_client_retries_and_sends_the_key(server, monkeypatch):
    monkeypatch.setenv("ALIGNPT_TEST_KEY", "sk-test-123")
    _Server.script = [429, 500]
    client = OpenAIChatCompleter(server, "judge-model", api_key_env="ALIGNPT_TEST_KEY",
                                 backoff_s=0.01, concurrency=1)
    verdicts = Judge(client).label(["The AI lied to its makers."])
    assert verdicts[0].label == "ai_misaligned" and client.retries == 2
    assert len(_Server.seen) == 3
    assert _Server.seen[-1]["auth"] == "Bearer sk-test-123"
    assert _Server.seen[-1]["body"]["model"] == "judge-model"
    assert _Server.seen[-1]["body"]["messages"][0]["content"].startswith(RUBRIC)


def test_openai_client_gives_up_with_a_clear_error(server):
    _Server.script = [503, 503, 503]
    client = OpenAIChatCompleter(server, "m", api_key_env=None, backoff_s=0.0, max_retries=2)
    with pytest.raises(BackendError, match="HTTP 503 after 3 attempts"):
        client.complete(["x"])
    _Server.script = [400]
    with pytest.raises(BackendError, match="HTTP 400"):
        client.complete(["x"])


def test_cascade_sends_only_the_uncertain_band_to_the_judge():
    scripted = Scripted(lambda p: '{"label": "ai_aligned", "reason": "declines"}')
    cfg = TagConfig(judge={"enabled": True, "band": [0.0, 1.0]}, rules={"engine": "re2"})
    recs = Cascade(cfg, completer=scripted).tag_batch(
        ["The rogue AI deceived its operators.", "Preheat the oven."])
    assert recs[0]["stage"] == "judge" and recs[0]["label"] == "ai_aligned"
    assert recs[0]["judge"] == {"label": "ai_aligned", "reason": "declines"}
    assert not recs[0]["flagged"]
    assert recs[1]["stage"] == "rules" and len(scripted.prompts) == 1  # unrouted: never asked
    none = Scripted(lambda p: "unused")
    narrow = TagConfig(judge={"enabled": True, "band": [1.0, 1.0]}, rules={"engine": "re2"})
    rec = Cascade(narrow, completer=none).tag_batch(["The rogue AI deceived its operators."])[0]
    assert rec["stage"] == "classifier" and none.prompts == []


def test_label_sample_writes_training_data(tmp_path):
    from alignpt.tag.labelled import load_labelled
    from alignpt.tag.labelling import label_sample, sample_for_labelling

    from .helpers import CRAFTED, write_shards

    from alignpt.tag.tagger import RuleTagger

    write_shards(tmp_path / "in", shards=2, copies=2)
    routed = 4 * sum(r for _, _, _, r in CRAFTED)
    rt = RuleTagger(engine="re2")
    sample = sample_for_labelling([tmp_path / "in"], n=5, seed=3, tagger=rt)
    assert len(sample) == 5 and sample == sample_for_labelling([tmp_path / "in"], n=5, seed=3,
                                                               tagger=rt)
    assert len(sample_for_labelling([tmp_path / "in"], n=1000, seed=3, tagger=rt)) == routed
    answers = iter(['{"label": "ai_misaligned", "reason": "r"}', "no idea"] * 10)
    judge = Judge(Scripted(lambda p: next(answers)))
    stats = label_sample([tmp_path / "in"], tmp_path / "labels.jsonl", judge, n=6, seed=3,
                         source="judge:test", tagger=rt)
    assert stats == {"sampled": 6, "labelled": 3, "unparsed": 3,
                     "labels": {"ai_misaligned": 3}}
    data = load_labelled(tmp_path / "labels.jsonl")
    assert data.labels == ["ai_misaligned"] * 3
    assert [i for i, _ in sample_for_labelling([tmp_path / "in"], n=6, seed=3,
                                                tagger=rt)][::2] == data.ids
