"""How the offline agents do on labelled tickets nobody in the project wrote.

    python -m bench offline_accuracy [--dataset bitext|multilingual|all]
                                     [--part development|held-out|both] [--limit N]

The development part by default: the held-out figures are printed only when asked for
(``--part held-out`` or ``both``), so a run made while writing rules does not show them.

For each dataset found in the data directory and each part of the evaluation split
(bench/eval_split.py), every ticket goes through the offline agents as the ticket workflow runs
them (bench/offline_pipeline.py). Reported per dataset and part: category accuracy, the share of
tickets answered without a person, and how many of those had the right category. Rules are
written from the development part at most; the held-out part is only ever measured.
"""

import argparse
import time

from activities.knowledge_base import KnowledgeBase
from bench.accuracy_scores import TALLY_HEADER, Scores
from bench.dataset import DATASETS, data_dir, load
from bench.eval_split import HELD_OUT_PERCENT, Part
from bench.offline_pipeline import run_offline
from shared.pipeline_config import PipelineConfig

PARTS = {"development": [Part.DEVELOPMENT], "held-out": [Part.HELD_OUT], "both": list(Part)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench offline_accuracy")
    parser.add_argument("--dataset", choices=[d.name for d in DATASETS] + ["all"], default="all")
    parser.add_argument(
        "--part",
        choices=list(PARTS),
        default="development",
        help="development (the default: what rules may be written from), held-out, or both",
    )
    parser.add_argument("--limit", type=int, default=None, help="tickets per dataset part")
    args = parser.parse_args(argv)
    datasets = [d for d in DATASETS if args.dataset in ("all", d.name)]
    kb, config = KnowledgeBase.bundled(), PipelineConfig()
    summary: list[str] = []
    for dataset in datasets:
        path = dataset.path()
        if not path.exists():
            print(
                f"skipped {dataset.name}: no {dataset.filename} in {data_dir()} "
                "(set TICKETS_BENCH_DATA_DIR)\n"
            )
            continue
        for part in PARTS[args.part]:
            scores = Scores()
            started = time.perf_counter()
            for item in load(path, args.limit, dataset=dataset, part=part):
                scores.add(run_offline(item.ticket, kb, config), item.expected, item.language)
            elapsed = time.perf_counter() - started
            print(f"### {dataset.name}, {part} part ({path.name})\n")
            print(scores.report())
            rate = scores.overall.total / elapsed if elapsed else 0.0
            print(f"- rules throughput (all four agents + KB): {rate:,.0f} tickets/s\n")
            summary.append(scores.overall.row(f"{dataset.name}, {part}"))
    if summary:
        print(f"### Summary (held-out = {HELD_OUT_PERCENT}% of each dataset by text hash)\n")
        print(TALLY_HEADER.replace("| tickets | n |", "| dataset, part | tickets |"))
        print("\n".join(summary))
    return 0
