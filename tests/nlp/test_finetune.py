"""`aftercare nlp train-sentiment` on a tiny slice: it runs, writes a loadable model, repeats."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nlp.finetune import MODEL_VERSION, WeightAverage
from nlp.sentiment import SentimentModel

REPO_ROOT = Path(__file__).resolve().parents[2]
AFTERCARE = Path(sys.executable).parent / "aftercare"


def _train(output: Path) -> subprocess.CompletedProcess[str]:
    command = [str(AFTERCARE), "nlp", "train-sentiment", "--", "--limit", "16", "--epochs", "1"]
    return subprocess.run(
        [*command, "--output", str(output)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    runs = [_train(first), _train(second)]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    return first, second, runs[0].stderr


def test_it_writes_weights_a_config_and_a_model_card(two_runs: tuple[Path, Path, str]) -> None:
    first, _, _ = two_runs
    config = json.loads((first / "config.json").read_text(encoding="utf-8"))
    assert config["head"]["kind"] == "fine-tuned"
    assert config["training"]["settings"]["seed"] == 0
    assert config["training"]["command"].startswith("python -m nlp.finetune")
    card = (first / "MODEL_CARD.md").read_text(encoding="utf-8")
    for section in ("## Results", "## Training", "## Data", "## Limits", "Licence"):
        assert section in card


def test_it_shows_a_progress_bar(two_runs: tuple[Path, Path, str]) -> None:
    _, _, stderr = two_runs
    assert "epoch 1/1" in stderr and "batch" in stderr


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


def test_the_product_loads_what_it_wrote(two_runs: tuple[Path, Path, str]) -> None:
    first, _, _ = two_runs
    [result] = SentimentModel(first).analyse(["The agent was helpful."])
    assert result.model_version == MODEL_VERSION
    assert result.label in {"negative", "neutral", "positive"}


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
