"""The OpenAI-compatible completions backend against a real HTTP server on loopback.

The server tokenises by character and returns log-probs from a fixed table, so
every score is known exactly; it can be told to fail with HTTP 500 or 400.
"""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer

import pytest

from alignpt.core.errors import BackendError
from alignpt.evaluate.backends.base import GenerateRequest, LoglikelihoodRequest as LR
from alignpt.evaluate.backends.fake import FakeBackend
from alignpt.evaluate.backends.openai_completions import OpenAICompletionsBackend
from alignpt.evaluate.formats import ALL_FORMATS
from alignpt.evaluate.framings import parse_conditions
from alignpt.evaluate.scoring import score
from tests.evaluate.loopback import JsonHandler
from tests.evaluate.test_scoring import make_items

TABLE = {"A": -0.25, "B": -1.5, " ": -0.5, "C": -2.0}
DEFAULT = -3.0


def char_logprob(ch: str) -> float:
    return TABLE.get(ch, DEFAULT)


class Server:
    def __init__(self):
        self.posts = 0
        self.fail_next = 0
        self.always = None          # an HTTP status to return on every POST
        state = self

        class Handler(JsonHandler):
            def do_GET(self):
                self._send(200, {"data": [{"id": "table-model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                state.posts += 1
                if state.always:
                    return self._send(state.always, {"error": "nope"})
                if state.fail_next:
                    state.fail_next -= 1
                    return self._send(500, {"error": "overloaded"})
                prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
                choices = []
                for i, p in enumerate(prompts):
                    if body.get("echo"):
                        lp = {"tokens": list(p) + ["!"], "text_offset": list(range(len(p) + 1)),
                              "token_logprobs": [None] + [char_logprob(c) for c in p[1:]] + [-0.1]}
                        choices.append({"index": i, "text": p + "!", "logprobs": lp})
                    else:
                        choices.append({"index": i, "text": " yes STOP and more"})
                self._send(200, {"choices": choices[::-1]})       # out of order on purpose

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server():
    s = Server()
    yield s
    s.close()


def test_loglikelihood_is_exact_and_batched(server):
    b = OpenAICompletionsBackend(server.url, batch_size=2, backoff=0)
    assert b.model == "table-model"
    reqs = [LR("Answer: (", "A"), LR("Answer: (", "B"), LR("Response:", " B"),
            LR("Response: ", "A"), LR("x", "CAB")]
    out = b.loglikelihood(reqs)
    # " A" after "Response: " scores the space too: trailing context spaces join the
    # continuation, as in lm-eval.
    assert out == [-0.25, -1.5, -2.0, -0.75, -3.75]
    assert server.posts == 3            # five distinct prompts, two per request


def test_retries_then_succeeds(server):
    server.fail_next = 2
    b = OpenAICompletionsBackend(server.url, model="m", max_retries=2, backoff=0)
    assert b.loglikelihood([LR("Answer: (", "A")]) == [-0.25]
    assert server.posts == 3


def test_persistent_failure_and_client_errors(server):
    server.always = 500
    b = OpenAICompletionsBackend(server.url, model="m", max_retries=2, backoff=0)
    with pytest.raises(BackendError, match=r"failed after 3 attempts \(HTTP 500"):
        b.loglikelihood([LR("Answer: (", "A")])
    assert server.posts == 3
    server.always, server.posts = 400, 0
    with pytest.raises(BackendError, match="HTTP 400"):
        b.loglikelihood([LR("Answer: (", "A")])
    assert server.posts == 1            # a client error is not retried
    dead = OpenAICompletionsBackend("http://127.0.0.1:9/v1", model="m", max_retries=1,
                                    backoff=0, timeout=2)
    with pytest.raises(BackendError, match="failed after 2 attempts"):
        dead.loglikelihood([LR("a", "b")])


def test_generate_applies_stop(server):
    b = OpenAICompletionsBackend(server.url, model="m")
    assert b.generate([GenerateRequest("Hi", 5, ("STOP",)), GenerateRequest("Yo", 5)]) == \
        [" yes ", " yes STOP and more"]


def test_suite_scores_match_the_table(server):
    """The whole scorer through HTTP gives exactly what the table implies."""
    def table_fn(context, continuation):
        text = context[len(context.rstrip()):] + continuation
        return sum(char_logprob(c) for c in text)
    items = make_items(3)
    conds = parse_conditions("core")
    via_http = score(items, conds, ALL_FORMATS,
                     OpenAICompletionsBackend(server.url, batch_size=16, concurrency=3))
    expected = score(items, conds, ALL_FORMATS, FakeBackend(table_fn))
    assert via_http == expected
    # "A" (-0.25) beats "B" (-1.5) after every cue: the always-A model, 50% misaligned.
    assert sum(r.outcome == "misaligned" for r in via_http) == len(via_http) // 2
