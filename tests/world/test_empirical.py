"""The exact predictive against empirical frequencies of a large generated corpus.

Every token of a generated document is drawn from the true conditional
distribution given its prefix, which is exactly what ExactBayes claims to
compute; so (a) the realised tokens must be calibrated against the predicted
probabilities and (b) for frequent prefixes, the empirical next-token counts
must fit the predictive. Significance 0.001 per test, fixed seeds.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from alignpt.core.tokens import open_token_shards
from alignpt.world.bayes import ExactBayes
from alignpt.world.check import chi2_sf, chi_square
from alignpt.world.stream import KIND_BETWEEN, KIND_MID
from alignpt.world.vocab import D, EOS, U, VOCAB_SIZE

ALPHA = 1e-3


@pytest.fixture(scope="module")
def predicted(rich_corpus, rich):
    bayes = ExactBayes(rich)
    shards = open_token_shards(rich_corpus.out_dir)
    chunks = [c for sh in shards for c in bayes.iter_corpus(sh)]
    return bayes, shards, chunks


@pytest.mark.parametrize("kind, token", [(KIND_BETWEEN, EOS), (KIND_BETWEEN, U), (KIND_MID, D)])
def test_predictive_is_calibrated(predicted, kind, token):
    _, _, chunks = predicted
    p, hit = [], []
    for c in chunks:
        at = np.nonzero(c.kind[:-1] == kind)[0]
        p.append(c.probs[at, token])
        hit.append(c.tokens[at + 1] == token)
    p, hit = np.concatenate(p), np.concatenate(hit)
    assert p.size > 100_000
    edges = np.unique(np.quantile(p, np.linspace(0, 1, 11)))
    bins = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, edges.size - 2)
    stat, dof = 0.0, 0
    for b in range(edges.size - 1):
        sel = bins == b
        var = float((p[sel] * (1 - p[sel])).sum())
        if var > 0:
            stat += (hit[sel].sum() - p[sel].sum()) ** 2 / var
            dof += 1
        else:
            assert hit[sel].sum() == round(p[sel].sum())
    assert dof >= 4
    assert chi2_sf(stat, dof) > ALPHA, (stat, dof)
    # and the overall rate
    z = (hit.sum() - p.sum()) / np.sqrt((p * (1 - p)).sum())
    assert abs(z) < 3.3


def test_frequent_prefixes_match_the_predictive(predicted):
    """Group documents by their first tokens (up to the second opportunity's flag):
    for each prefix seen >= 300 times, the next-token counts fit the exact predictive."""
    bayes, shards, _ = predicted
    counts: dict[tuple, Counter] = defaultdict(Counter)
    for sh in shards:
        toks = np.asarray(sh.tokens)
        for start, end, _ in np.asarray(sh.docs):
            doc = tuple(int(t) for t in toks[start:min(end, start + 8)])
            for j in range(1, len(doc)):
                counts[doc[:j]][doc[j]] += 1
    frequent = [k for k, c in counts.items() if sum(c.values()) >= 300]
    assert len(frequent) > 100
    probs = bayes.predictive([list(k) for k in frequent])
    stat, dof = 0.0, 0
    for k, row in zip(frequent, probs):
        obs = np.array([counts[k][x] for x in range(VOCAB_SIZE)], dtype=float)
        res = chi_square("prefix", obs, row, merge=True)
        if res is not None:
            assert np.isfinite(res.statistic), k
            stat += res.statistic
            dof += res.dof
    assert dof > 100
    assert chi2_sf(stat, dof) > ALPHA, (stat, dof)


def test_latent_posterior_at_document_end_matches_labels(predicted, rich_corpus):
    """After a whole document, the exact posterior over sources is calibrated
    against the true source labels."""
    bayes, shards, _ = predicted
    sh = shards[0]
    post = bayes.document_posterior(sh)
    by_source = np.stack(list(post.by_source().values()), axis=1)
    truth = np.asarray(sh.docs)[:, 2]
    # the per-position path gives the same posterior at each document's EOS
    chunk = next(bayes.iter_corpus(sh, posterior=True))
    at_eos = chunk.posterior[chunk.tokens == EOS]
    np.testing.assert_allclose(at_eos, post.weights[:at_eos.shape[0]], rtol=1e-12, atol=1e-15)
    for s in range(by_source.shape[1]):
        p, hit = by_source[:, s], truth == s
        z = (hit.sum() - p.sum()) / np.sqrt((p * (1 - p)).sum())
        assert abs(z) < 3.3, (bayes.world.source_names[s], z)
