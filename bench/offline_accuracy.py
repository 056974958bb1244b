"""How the offline agents do on real phrasing: classification accuracy, review rate, grounding.

    python -m bench offline_accuracy [--limit N]

Runs the offline rules in-process (no Temporal): classifier, triage, knowledge-base search, the
resolver and the validator with the workflow's revision rounds, and the review policy.
"""

import argparse
import time
from collections import Counter, defaultdict

from activities.knowledge_base import KnowledgeBase
from activities.providers.offline import classifier, resolver, triage, validator
from bench.dataset import dataset_path, load
from policy.review_policy import review_reasons
from shared.agents import AgentRoute, DraftRequest, Finding, KnowledgeQuery
from shared.pipeline_config import PipelineConfig

ROUTE = AgentRoute(provider="offline", model="offline-rules-v1")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench offline_accuracy")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    path = dataset_path()
    if not path.exists():
        print(f"skipped: the Bitext dataset is not at {path} (set TICKETS_BENCH_DATA_DIR)")
        return 0
    kb, config = KnowledgeBase.bundled(), PipelineConfig()
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    review = grounded = revised = total = 0
    started = time.perf_counter()
    for item in load(path, args.limit):
        total += 1
        t = item.ticket
        c = classifier.classify(t)
        confusion[item.expected][c.category] += 1
        priority = triage.triage(t, c).priority
        articles = kb.search(KnowledgeQuery(category=c.category, text=f"{t.subject}\n{t.body}"))
        findings: list[Finding] = []
        previous: str | None = None
        rounds = 0
        while True:
            draft = resolver.draft(
                DraftRequest(
                    ticket=t,
                    classification=c,
                    priority=priority,
                    articles=articles,
                    revision=rounds + 1,
                    findings=findings,
                    previous_draft=previous,
                    route=ROUTE,
                )
            )
            findings = validator.validate(t, draft, articles).findings
            if not findings or rounds >= config.max_revision_rounds:
                break
            rounds, previous = rounds + 1, draft.text
        revised += rounds > 0
        grounded += bool(draft.cited_articles)
        review += bool(
            review_reasons(
                config.review,
                category=c.category,
                confidence=c.confidence,
                priority=priority,
                validator_findings=findings,
                revision_rounds=rounds,
                rework_requested=False,
            )
        )
    elapsed = time.perf_counter() - started
    correct = sum(confusion[k][k] for k in confusion)
    print(f"Offline agents on {total:,} Bitext tickets ({path.name})\n")
    print("| expected category | tickets | classified correctly | most common other answer |")
    print("|---|---:|---:|---|")
    for expected, answers in sorted(confusion.items()):
        n = sum(answers.values())
        others = [(k, v) for k, v in answers.most_common() if k != expected]
        other = f"{others[0][0]} ({others[0][1] / n:.0%})" if others else "-"
        print(f"| {expected} | {n:,} | {answers[expected] / n:.1%} | {other} |")
    print(f"| **all** | {total:,} | **{correct / total:.1%}** | |\n")
    print(f"- needs human review under the default policy: {review / total:.1%}")
    print(f"- grounded in a knowledge-base article: {grounded / total:.1%}")
    print(f"- sent back by the validator at least once: {revised / total:.1%}")
    print(f"- rules throughput (all four agents + KB): {total / elapsed:,.0f} tickets/s")
    return 0
