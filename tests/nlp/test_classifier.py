"""The classifier's storage: what is saved comes back, and files for another model are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from nlp.classifier import (
    FROZEN_WEIGHTS,
    ModelDirError,
    build_classifier,
    load_averaged_classifier,
    load_classifier,
    load_tokenizer,
    predict_logits,
    save_weights,
)

TEXTS = ["Lovely service.", "Still broken after three visits, and nobody calls back.", "n/a"]


def test_saved_weights_reload_to_the_same_predictions(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_classifier(3).eval()
    tokenizer = load_tokenizer()
    path = tmp_path / "weights.safetensors"
    size = save_weights(model, path, {"model_version": "test"})
    reloaded = load_classifier(path, 3)
    before = predict_logits(model, tokenizer, TEXTS, 256, 64)
    after = predict_logits(reloaded, tokenizer, TEXTS, 256, 64)
    # float16 storage: close, not bit-equal.
    np.testing.assert_allclose(after, before, atol=2e-2)
    assert size == path.stat().st_size
    assert not set(load_file(str(path))) & FROZEN_WEIGHTS


def test_a_weights_file_for_another_model_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "weights.safetensors"
    save_file({"something.else": torch.zeros(2, 2)}, str(path))
    with pytest.raises(ModelDirError, match="unexpected"):
        load_classifier(path, 3)


def test_averaging_two_saved_models_gives_the_mean_of_their_weights(tmp_path: Path) -> None:
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        paths.append(tmp_path / f"seed-{seed}.safetensors")
        save_weights(build_classifier(3), paths[-1], {})
    averaged = load_averaged_classifier(paths, 3)
    first, second = (load_file(str(path)) for path in paths)
    expected = (first["head.weight"].float() + second["head.weight"].float()) / 2
    assert not torch.equal(first["head.weight"], second["head.weight"])
    torch.testing.assert_close(averaged.head.weight.detach(), expected)


def test_weights_of_different_models_are_not_averaged(tmp_path: Path) -> None:
    torch.manual_seed(0)
    paths = [tmp_path / "classifier.safetensors", tmp_path / "other.safetensors"]
    save_weights(build_classifier(3), paths[0], {})
    save_file({"something.else": torch.zeros(2, 2)}, str(paths[1]))
    with pytest.raises(ModelDirError, match="other weights"):
        load_averaged_classifier(paths, 3)


def test_predictions_keep_input_order_across_length_sorted_batches() -> None:
    torch.manual_seed(0)
    model = build_classifier(3).eval()
    tokenizer = load_tokenizer()
    together = predict_logits(model, tokenizer, TEXTS, 256, 2)
    for index, text in enumerate(TEXTS):
        alone = predict_logits(model, tokenizer, [text], 256, 2)
        np.testing.assert_allclose(alone[0], together[index], atol=1e-4)


def test_no_texts_is_an_error() -> None:
    model = build_classifier(3).eval()
    with pytest.raises(ValueError):
        predict_logits(model, load_tokenizer(), [], 256, 64)
