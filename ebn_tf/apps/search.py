"""The network growth search: enumerate, cost, train with a proxy recipe, rank, plot.

    ebn-search --output_dir runs/search --max_bops 32e6
    ebn-search --base fmnist_search_base --blocks 1-1-1,1-2-1 --expansions 1,2 \\
        --experts 1,4 --recipe fmnist_proxy --override train_limit=12800 --output_dir DIR

Rerunning the same command resumes: finished candidates are kept and skipped. Writes
results.csv, results.md and pareto.png to --output_dir.
"""

import sys
from pathlib import Path

from absl import app, flags, logging

from ebn_tf import models, search
from ebn_tf.apps.checkout import zoo_mirror
from ebn_tf.apps.user_errors import user_errors
from ebn_tf.training import get_recipe

flags.DEFINE_string("base", "fmnist_search_base", "Model preset to grow (groups 1).")
flags.DEFINE_list("blocks", ["1-1-1", "1-2-1", "1-1-2"], "Blocks per stage to try, e.g. 1-2-1.")
flags.DEFINE_list("expansions", ["1", "2"], "Width multipliers a (groups a^2).")
flags.DEFINE_list("experts", ["1", "4"], "Numbers of experts.")
flags.DEFINE_float("max_bops", None, "Budget: drop candidates with more BOPs.")
flags.DEFINE_float("max_ops", None, "Budget: drop candidates with more OPs.")
flags.DEFINE_string("recipe", "fmnist_proxy", "The proxy training recipe.")
flags.DEFINE_multi_string("override", [], "KEY=VALUE override of the proxy recipe.")
flags.DEFINE_string("output_dir", None, "Where candidates and results go.")
flags.DEFINE_string("data_dir", None, "tensorflow-datasets data dir.")
FLAGS = flags.FLAGS


def _whole(text: str) -> int | None:
    """``text`` as a whole number >= 1, else None."""
    try:
        number = int(text)
    except ValueError:
        return None
    return number if number >= 1 else None


def _refuse(flag: str, values: list[str], value: str, form: str, example: str) -> ValueError:
    """The error for ``value`` of ``--flag``: the flag, its value, the form and an example."""
    return ValueError(
        f"--{flag}={','.join(values)}: {value!r} is not {form}. Fix: e.g. --{flag}={example}."
    )


def counts(flag: str, values: list[str]) -> list[int]:
    """``--flag``'s comma-separated values as whole numbers >= 1."""
    numbers = []
    for value in values:
        number = _whole(value)
        if number is None:
            raise _refuse(flag, values, value, "a whole number >= 1", "1,4")
        numbers.append(number)
    return numbers


def depths(values: list[str], base: str) -> list[tuple[int, ...]]:
    """``--blocks``' values, each the blocks per stage of ``base`` joined by '-'."""
    stages = len(models.get_config(base).widths)
    ones = ["1"] * stages
    example = f"{'-'.join(ones)},{'-'.join([*ones[:-1], '2'])}"
    form = f"{stages} whole numbers >= 1 joined by '-' (blocks per stage of {base})"
    parsed = []
    for value in values:
        blocks = tuple(_whole(part) for part in value.split("-"))
        if len(blocks) != stages or None in blocks:
            raise _refuse("blocks", values, value, form, example)
        parsed.append(blocks)
    return parsed


def main(argv):
    logging.set_verbosity(logging.INFO)
    if len(argv) > 1:
        sys.exit(
            f"Unexpected arguments {argv[1:]}: lists are comma-separated (--blocks 1-1-1,1-2-1)."
        )
    if not FLAGS.output_dir:
        sys.exit("--output_dir is required (see --help).")
    with user_errors():
        found = search.candidates(
            depths(FLAGS.blocks, FLAGS.base),
            counts("expansions", FLAGS.expansions),
            counts("experts", FLAGS.experts),
        )
        rows = search.search(
            FLAGS.base,
            found,
            get_recipe(FLAGS.recipe, FLAGS.override),
            FLAGS.output_dir,
            FLAGS.max_bops,
            FLAGS.max_ops,
            FLAGS.data_dir,
            zoo_mirror(),
        )
    print(Path(FLAGS.output_dir, "results.md").read_text())
    print(
        f"{len(rows)} candidates ranked; results.csv, results.md, pareto.png in {FLAGS.output_dir}"
    )


def run():
    app.run(main)


if __name__ == "__main__":
    run()
