"""The writing training-data generator: every answer meets its own constraints, dev topics stay apart."""

from loco.evals.constraints import check_all
from loco.train import writinggen


def test_answers_meet_their_constraints_and_are_seeded():
    tasks = writinggen.generate("train", 200, seed=3)
    assert tasks == writinggen.generate("train", 200, seed=3)
    assert len({(t.instruction, t.output) for t in tasks}) == 200
    for t in tasks:
        assert t.constraints
        assert all(c.strict for c in check_all(t.output, t.constraints)), (t.instruction, t.output)
    kinds = {c["kind"] for t in tasks for c in t.constraints}
    assert {"bullets", "paragraphs", "json", "title", "lowercase", "no_commas", "postscript"} <= kinds


def test_dev_topics_are_not_trained_on():
    assert not set(writinggen.TOPICS["dev"]) & set(writinggen.TOPICS["train"])
    train_sentences = {s for _, ss in writinggen.TOPICS["train"].values() for s in ss}
    dev_sentences = {s for _, ss in writinggen.TOPICS["dev"].values() for s in ss}
    assert not train_sentences & dev_sentences
    assert {t.topic for t in writinggen.generate("dev", 30, seed=2)} <= set(writinggen.TOPICS["dev"])
