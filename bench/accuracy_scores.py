"""What offline_accuracy counts for one dataset part, and how it prints it.

What matters to a support team is that an answer sent without a person is right: next to the
category accuracy over every ticket, the share answered without a person (no review reason) and
how many of those had the right category (the precision of auto-answers)."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from bench.offline_pipeline import Outcome


def share(part: int, whole: int) -> str:
    return f"{part / whole:.1%} ({part:,} of {whole:,})" if whole else "- (0 of 0)"


@dataclass
class Tally:
    total: int = 0
    correct: int = 0
    auto: int = 0
    auto_correct: int = 0

    def add(self, outcome: Outcome, right: bool) -> None:
        self.total += 1
        self.correct += right
        if outcome.answered_without_a_person:
            self.auto += 1
            self.auto_correct += right

    def row(self, label: str) -> str:
        return (
            f"| {label} | {self.total:,} | {share(self.correct, self.total)} "
            f"| {share(self.auto, self.total)} | {share(self.auto_correct, self.auto)} |"
        )


TALLY_HEADER = (
    "| tickets | n | category accuracy | answered without a person "
    "| right category among those |\n|---|---:|---:|---:|---:|"
)


@dataclass
class Scores:
    overall: Tally = field(default_factory=Tally)
    by_expected: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_language: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    confusion: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    grounded: int = 0
    revised: int = 0

    def add(self, outcome: Outcome, expected: str, language: str) -> None:
        right = outcome.category == expected
        for tally in (self.overall, self.by_expected[expected], self.by_language[language]):
            tally.add(outcome, right)
        self.confusion[expected][outcome.category] += 1
        self.grounded += outcome.grounded
        self.revised += outcome.revision_rounds > 0

    def report(self) -> str:
        lines = [TALLY_HEADER, self.overall.row("**all**")]
        for expected, tally in sorted(self.by_expected.items()):
            others = [(k, v) for k, v in self.confusion[expected].most_common() if k != expected]
            hint = f" (else mostly {others[0][0]})" if others else ""
            lines.append(tally.row(f"expected {expected}{hint}"))
        if len(self.by_language) > 1:
            lines += [
                tally.row(f"labelled language {lang}")
                for lang, tally in sorted(self.by_language.items())
            ]
        total = self.overall.total
        lines += [
            "",
            f"- grounded in a knowledge-base article: {share(self.grounded, total)}",
            f"- sent back by the validator at least once: {share(self.revised, total)}",
        ]
        return "\n".join(lines)
