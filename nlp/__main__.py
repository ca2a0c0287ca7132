"""Training commands, outside the product's CLI: `python -m nlp train-sentiment [options]` and
`python -m nlp train-teacher [options]` (the same as `python -m nlp.finetune` and
`python -m nlp.teacher`; see docs/nlp.md)."""

from __future__ import annotations

import sys

COMMANDS = {"train-sentiment": "nlp.finetune", "train-teacher": "nlp.teacher"}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m nlp {{{','.join(COMMANDS)}}} [options]", file=sys.stderr)
        return 2
    command, options = argv[0], argv[1:]
    # `python -m nlp train-sentiment -- --epochs 1`: the separator is ours, not finetune's.
    options = options[1:] if options[:1] == ["--"] else options
    if command == "train-sentiment":
        from nlp import finetune

        return finetune.main(options)
    from nlp import teacher

    return teacher.main(options)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
