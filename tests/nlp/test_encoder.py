"""The MiniLM encoder: shape, normalisation and input order survive length-sorted batching."""

from __future__ import annotations

import numpy as np

from nlp import encoder

TEXTS = [
    "The boiler is fixed.",
    "I rang on Monday about the router, again on Wednesday, and the engineer came on Friday.",
    "Thanks!",
    "The invoice arrived by email.",
]


def test_it_embeds_each_text_as_a_unit_length_384_float32_vector() -> None:
    vectors = encoder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_it_returns_vectors_in_input_order_whatever_the_batch_size() -> None:
    together = encoder.embed(TEXTS, batch_size=64)
    in_pairs = encoder.embed(TEXTS, batch_size=2)
    alone = np.stack([encoder.embed([text])[0] for text in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(in_pairs, alone, atol=1e-5)


def test_it_places_paraphrases_closer_than_unrelated_texts() -> None:
    late, also_late, invoice = encoder.embed(
        ["The engineer arrived late.", "The technician turned up late.", "Pay the invoice."]
    )
    assert late @ also_late > 0.6 > late @ invoice


def test_it_embeds_no_texts_as_an_empty_matrix() -> None:
    assert encoder.embed([]).shape == (0, 384)
