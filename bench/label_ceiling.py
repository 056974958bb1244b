"""How far any classifier that reads only the text can go on a dataset's labels: the ceiling the
offline rules are measured against.

    python -m bench label_ceiling [--dataset bitext|multilingual|all] [--language en|de]

A supervised text classifier is fitted on the development part's own labels (the most a model
can learn about this file's labelling) and scored on the held-out part: sorted by its confidence,
how many of the tickets it is surest about carry the label it predicts, at 10% to 50% of the
tickets, and the widest share at which at least 90% do. The offline rules' own point (share
answered without a person, right category among those) is printed on the same held-out tickets.

If a model fitted to the labels cannot be 90% right on 30% of the tickets, the labels disagree
with the text that often, and no rule written from the domain will do better on them.

Needs scikit-learn, which the product does not (an optional extra):
``.venv/bin/pip install 'scikit-learn==1.9.1'``.
"""

import argparse
from collections import Counter
from collections.abc import Sequence

from activities.knowledge_base import KnowledgeBase
from bench.accuracy_scores import Tally
from bench.dataset import DATASETS, LabelledTicket, data_dir, load
from bench.eval_split import Part
from bench.offline_pipeline import run_offline
from shared.pipeline_config import PipelineConfig

COVERAGES = (0.1, 0.2, 0.3, 0.4, 0.5)
# The calibrated SVM splits each category five ways (cross-validation folds).
MIN_PER_CATEGORY = 5
TARGET_PRECISION = 0.9


def precision_at(confidences: Sequence[float], right: Sequence[bool], coverage: float) -> float:
    """The share right among the ``coverage`` share of items with the highest confidence."""
    if len(confidences) != len(right):
        raise ValueError(f"{len(confidences)} confidences for {len(right)} outcomes")
    take = int(coverage * len(confidences))
    if take == 0:
        return float("nan")
    order = sorted(range(len(confidences)), key=lambda i: -confidences[i])
    return sum(right[i] for i in order[:take]) / take


def widest_coverage(
    confidences: Sequence[float], right: Sequence[bool], precision: float = TARGET_PRECISION
) -> float:
    """The largest share of items, taken surest first, of which at least ``precision`` are right
    (0.0 when even the surest item is wrong)."""
    order = sorted(range(len(confidences)), key=lambda i: -confidences[i])
    best, hits = 0, 0
    for taken, i in enumerate(order, start=1):
        hits += right[i]
        if hits >= precision * taken:
            best = taken
    return best / len(order) if order else 0.0


def _text(item: LabelledTicket) -> str:
    return f"{item.ticket.subject}\n{item.ticket.body}"


def _models() -> list[tuple[str, object, object]] | None:
    try:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC
    except ImportError:
        return None
    return [
        (
            "words (1-2 grams), logistic regression",
            TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
            LogisticRegression(max_iter=3000, C=5.0),
        ),
        (
            "characters (2-5 grams), linear SVM, calibrated",
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True),
            CalibratedClassifierCV(LinearSVC(random_state=0)),
        ),
    ]


def _row(label: str, confidences: list[float], right: list[bool]) -> str:
    cells = " | ".join(f"{precision_at(confidences, right, c):.1%}" for c in COVERAGES)
    accuracy = sum(right) / len(right)
    widest = widest_coverage(confidences, right)
    return f"| {label} | {accuracy:.1%} | {cells} | {widest:.1%} |"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench label_ceiling")
    parser.add_argument("--dataset", choices=[d.name for d in DATASETS] + ["all"], default="all")
    parser.add_argument(
        "--language", choices=["en", "de"], default=None, help="only tickets labelled so"
    )
    args = parser.parse_args(argv)
    models = _models()
    if models is None:
        print(
            "skipped: label_ceiling needs scikit-learn, which the product does not install "
            "(.venv/bin/pip install 'scikit-learn==1.9.1')\n"
        )
        return 0
    kb, config = KnowledgeBase.bundled(), PipelineConfig()
    for dataset in (d for d in DATASETS if args.dataset in ("all", d.name)):
        if not dataset.path().exists():
            print(f"skipped {dataset.name}: no {dataset.filename} in {data_dir()}\n")
            continue

        train, test = (
            [i for i in load(dataset=dataset, part=part) if args.language in (None, i.language)]
            for part in (Part.DEVELOPMENT, Part.HELD_OUT)
        )
        expected = [str(i.expected) for i in test]
        which = f", labelled {args.language}" if args.language else ""
        per_category = Counter(str(i.expected) for i in train)
        if not test or len(per_category) < 2 or min(per_category.values()) < MIN_PER_CATEGORY:
            print(
                f"skipped {dataset.name}{which}: {len(train)} development tickets in "
                f"{len(per_category)} categories and {len(test)} held-out; fitting needs two "
                f"categories of at least {MIN_PER_CATEGORY} tickets each and something to score\n"
            )
            continue
        print(f"### {dataset.name}{which}: fitted on {len(train):,} development tickets, ", end="")
        print(f"scored on {len(test):,} held-out\n")
        head = " | ".join(f"right among surest {c:.0%}" for c in COVERAGES)
        print(f"| classifier | accuracy | {head} | widest share ≥ 90% right |")
        print("|---|---:|" + "---:|" * len(COVERAGES) + "---:|")
        for name, vectorizer, model in models:
            features = vectorizer.fit_transform([_text(i) for i in train])
            model.fit(features, [str(i.expected) for i in train])
            held_out = vectorizer.transform([_text(i) for i in test])
            probabilities = model.predict_proba(held_out)
            classes = list(model.classes_)
            best = [max(range(len(classes)), key=lambda k: p[k]) for p in probabilities]
            confidences = [float(p[k]) for p, k in zip(probabilities, best, strict=True)]
            right = [classes[k] == e for k, e in zip(best, expected, strict=True)]
            print(_row(name, confidences, right))
        rules = Tally()  # the same counts bench offline_accuracy reports
        for item, label in zip(test, expected, strict=True):
            outcome = run_offline(item.ticket, kb, config)
            rules.add(outcome, outcome.category == label)
        print(
            f"\nThe offline rules on the same tickets: accuracy {rules.correct / rules.total:.1%}; "
            f"{rules.auto / rules.total:.1%} answered without a person, "
            f"{rules.auto_correct / rules.auto if rules.auto else 0:.1%} of those right.\n"
        )
    return 0
