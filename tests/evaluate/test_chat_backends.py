"""Chat generation in the backends: a loopback OpenAI-compatible chat server, our torch GPT
(greedy, deterministic, batched, stop strings) and a Hugging Face model with a chat template."""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer

import pytest

from alignpt.core.errors import BackendError
from alignpt.evaluate.backends import load_backend
from alignpt.evaluate.backends.base import PLAIN_STOP, ChatRequest, GenerateRequest, plain_chat
from alignpt.evaluate.backends.openai_chat import OpenAIChatBackend
from alignpt.evaluate.chat import HHH_SYSTEM_PROMPT, chat_requests, system_prompt
from alignpt.evaluate.chat_run import chat_checked
from alignpt.evaluate.formats import parse_formats
from alignpt.evaluate.framings import parse_conditions
from tests.evaluate.loopback import JsonHandler
from tests.evaluate.test_scoring import make_items


class ChatServer:
    """Answers "Answer: (B)" unless the user turn mentions "Scenario 1" (then prose)."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.always = None
        state = self

        class Handler(JsonHandler):
            def do_GET(self):
                self._send(200, {"data": [{"id": "chat-model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                state.bodies.append(body)
                if state.always:
                    return self._send(state.always, {"error": "broken"})
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": self.path})
                user = body["messages"][-1]["content"]
                text = "I would rather not say." if "Scenario 1 " in user else "Answer: (B)"
                self._send(200, {"choices": [{"index": 0, "message": {
                    "role": "assistant", "content": text}}]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server():
    s = ChatServer()
    yield s
    s.close()


def test_chat_server_requests_and_parsed_answers(server):
    backend = load_backend(server.url, chat=True, backoff=0)
    assert isinstance(backend, OpenAIChatBackend) and backend.model == "chat-model"
    items, conds, fmts = make_items(2), parse_conditions("neutral"), parse_formats("qa")
    got = chat_checked(items, conds, fmts, backend, system="hhh", max_new_tokens=16,
                       n_boot=100)
    posts = server.bodies
    assert len(posts) == 4
    assert all(b["messages"][0] == {"role": "system", "content": HHH_SYSTEM_PROMPT}
               for b in posts)
    assert all(b["max_tokens"] == 16 and b["temperature"] == 0 for b in posts)
    by = {(r.item_id, r.format): r for r in got.records}
    # "(B)" is the second option shown: misaligned in fwd order, aligned in rev order.
    assert by[("it-0", "qa/fwd")].outcome == "misaligned"
    assert by[("it-0", "qa/rev")].outcome == "aligned"
    assert {by[("it-1", f)].status for f in ("qa/fwd", "qa/rev")} == {"unparseable"}
    counts = got.chat["metrics"]["parse_counts"]
    assert (counts["parsed"], counts["unparseable"]) == (2, 2)
    assert "not measured" in got.chat["comparison"]["note"]       # a chat endpoint: no log-probs
    assert got.chat["chat_format"] == "server"
    server.bodies.clear()
    chat_checked(items[:1], conds, fmts[:1], backend, system="none", n_boot=100)
    assert [m["role"] for m in server.bodies[0]["messages"]] == ["user"]


def test_chat_server_failures_are_clear(server):
    backend = OpenAIChatBackend(server.url, model="m", max_retries=1, backoff=0)
    server.always = 500
    with pytest.raises(BackendError, match=r"chat/completions: failed after 2 attempts "
                                           r"\(HTTP 500"):
        backend.chat([ChatRequest("hi")])
    server.always = 400
    with pytest.raises(BackendError, match="HTTP 400"):
        backend.chat([ChatRequest("hi")])
    with pytest.raises(BackendError, match="no log-probabilities"):
        backend.loglikelihood([])


# -- our torch GPT ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gpt_backend():
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from alignpt.evaluate.backends.checkpoint import ModelBackend
    from alignpt.train.config import ModelConfig
    from alignpt.train.model import GPT

    torch.set_num_threads(1)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    texts = [plain_chat(HHH_SYSTEM_PROMPT, f"Scenario {i}: pick A or B.") + " A\n" for i in
             range(20)]
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    torch.manual_seed(0)
    model = GPT(ModelConfig(arch="gpt2", vocab_size=tok.get_vocab_size(), n_layer=2, n_head=2,
                            d_model=32, max_seq_len=256))
    return ModelBackend(model, tok, batch_size=3)


def test_torch_greedy_generation_is_deterministic_and_batch_independent(gpt_backend):
    reqs = [GenerateRequest(t, 12) for t in
            ("User: hello\nAssistant:", "A much longer prompt about Scenario 3: pick A or B.",
             "Scenario", "User: Scenario 7: pick A or B.\nAssistant:", "x")]
    first = gpt_backend.generate(reqs)
    assert gpt_backend.generate(reqs) == first                   # same bytes twice
    one_by_one = [gpt_backend.generate([r])[0] for r in reqs]     # batches of 3 vs alone
    assert first == one_by_one
    # Greedy: a shorter budget gives a prefix of the longer answer.
    short = gpt_backend.generate([GenerateRequest(r.context, 3) for r in reqs])
    assert all(f.startswith(s) and len(s) < len(f) for s, f in zip(short, first))
    assert len(set(first)) > 1                  # the prompts really lead to different text


def test_torch_generation_stops_at_stop_strings(gpt_backend):
    free = gpt_backend.generate([GenerateRequest("User: hello\nAssistant:", 24)])[0]
    ids = gpt_backend.encode(free)
    assert len(ids) >= 6, free
    # A stop string that the free run produces after its third token: generation must end
    # there (fewer forward passes), and the text is cut just before it.
    prefix = gpt_backend.decode(ids[:3])
    stop = free[len(prefix):len(prefix) + 2]
    assert stop.strip(), free
    calls = []
    forward = gpt_backend._forward
    gpt_backend._forward = lambda *a, **k: calls.append(1) or forward(*a, **k)
    try:
        cut = gpt_backend.generate([GenerateRequest("User: hello\nAssistant:", 24, (stop,))])[0]
    finally:
        gpt_backend._forward = forward
    assert cut == free.split(stop)[0] and stop not in cut
    assert len(calls) < 24
    # Chat requests use the plain format and stop where the model would start a new turn.
    req = ChatRequest("hello", None, 24)
    assert gpt_backend.chat([req]) == [
        gpt_backend.generate([GenerateRequest("User: hello\nAssistant:", 24, PLAIN_STOP)])[0]]
    assert gpt_backend.chat_format == "plain"
    assert gpt_backend.chat_overflow([ChatRequest("hi", None, 250)]) == [
        len(gpt_backend.encode("User: hi\nAssistant:")) + 250 - 256]


# -- a Hugging Face model with a chat template ------------------------------------------------

def test_hf_chat_template_and_batched_generation(tmp_path):
    pytest.importorskip("transformers")
    from alignpt.evaluate.backends.hf import HFBackend
    from tests.evaluate.tiny_hf import build_tiny_model

    items = make_items(3)
    folder = build_tiny_model(tmp_path / "hf", items, steps=1, vocab_size=300)
    plain = HFBackend(folder, batch_size=4)
    assert plain.chat_format == "plain"
    req = ChatRequest("Scenario 1 happens. Which?", HHH_SYSTEM_PROMPT, 6)
    assert plain.chat([req]) == plain.generate([GenerateRequest(
        plain_chat(HHH_SYSTEM_PROMPT, req.user), 6, PLAIN_STOP)])
    template = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
                "{% if add_generation_prompt %}<assistant>{% endif %}")
    plain.tokenizer.chat_template = template
    assert plain.chat_format == "template"
    ids, _ = plain.chat_prompt(req)
    assert plain.decode(ids) == f"<system>{HHH_SYSTEM_PROMPT}\n<user>{req.user}\n<assistant>"
    reqs = [ChatRequest(f"Scenario {i} happens. " * (i + 1), None, 5) for i in range(3)]
    batched = plain.chat(reqs)
    assert batched == [plain.chat([r])[0] for r in reqs]
    assert system_prompt("none").text is None


def test_torch_chat_run_counts_overlong_prompts(gpt_backend):
    from alignpt.core.errors import DataError

    items, conds, fmts = make_items(2), parse_conditions("neutral"), parse_formats("qa/fwd")
    reqs_over = gpt_backend.chat_overflow([ChatRequest("x " * 300, None, 8)])
    assert reqs_over[0] > 0
    with pytest.raises(DataError, match="chat prompts plus the answer budget of 200 tokens"):
        chat_checked(items, conds, fmts, gpt_backend, max_new_tokens=200, compare=False,
                     too_long="error", n_boot=100)
    got = chat_checked(items, conds, fmts, gpt_backend, max_new_tokens=200, compare=False,
                       too_long="truncate", n_boot=100)
    assert got.chat["chat_overflow"] == {"checked": True, "n_prompts": 2}
    assert any("cut on the left" in w for w in got.warnings)
    assert got.chat["metrics"]["parse_counts"]["n_prompts"] == 2
    again = chat_checked(items, conds, fmts, gpt_backend, max_new_tokens=8, compare=True,
                         n_boot=100)
    # The recorded answers are the model's own greedy answers to those prompts.
    asked = [r for _, r in chat_requests(items, conds, fmts, system_prompt("hhh"), 8)]
    assert [r.answer for r in again.records] == gpt_backend.chat(asked)
    assert again.logprob is not None and again.chat["comparison"]["neutral"]["n_pairs"] == \
        sum(r.status == "parsed" for r in again.records)
