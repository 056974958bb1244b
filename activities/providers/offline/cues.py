"""What each category's tickets talk about, written from the product and its support domain.

A *strong* cue names the category's subject by itself ("invoice", "password", "crashes",
"please add"); a *weak* one only leans that way ("plan", "account", "error", "order"). The
classifier is confident only when the winning category has a strong cue and no other category
comes close. Stems match inflections ("invoic" covers invoice, invoices, invoicing).

Rules for this table: every cue is a word a customer of this product uses for the subject, in
ordinary English. No cue exists because a benchmark's labels or templates use it; the figures in
docs/offline-evaluation.md are measured on a held-out part that no cue was chosen from.
"""

import re
from dataclasses import dataclass
from typing import Final

from shared.agents import Category


@dataclass(frozen=True)
class Cue:
    pattern: re.Pattern[str]
    weight: float
    strong: bool


def _cues(*rows: tuple[str, float, bool]) -> list[Cue]:
    return [Cue(re.compile(pattern), weight, strong) for pattern, weight, strong in rows]


STRONG, WEAK = True, False

CUES: Final[dict[Category, list[Cue]]] = {
    Category.BILLING: _cues(
        (r"\binvoic", 2.5, STRONG),
        (r"\bbilling\b|\bbilled\b|\b(my|the|last|this|monthly|annual) bill\b", 2.5, STRONG),
        (r"\brefund", 2.5, STRONG),
        (r"\b(i|we|been|was|were|being|get|got) (over|double[- ]?)?charged\b", 2.5, STRONG),
        (r"\bovercharg|\bdouble[- ]charg|\bcharged twice|\bduplicate (charge|payment)", 3, STRONG),
        (r"(?<!in )(?<!free of )\bcharges?\b", 1.5, WEAK),
        (r"\breceipt|\bprorat|\b(cancellation|termination) (fee|charge)s?", 2.5, STRONG),
        (
            r"\bpayment (method|option|issue|problem|error|fail\w*|declined)s?"
            r"|\b(failed|declined) payment|\bways? to pay\b",
            2.5,
            STRONG,
        ),
        (r"\bpayments?\b|\bpaying\b|\bpaid\b|\bpay\b", 1.5, WEAK),
        (r"\bsubscription|\brenewal\b|\bpric(e|es|ing)\b", 1.5, WEAK),
        (r"\bplan\b|\bupgrade|\bdowngrade", 1, WEAK),
        (r"\bcredit card|\bdebit card|\bpaypal|\bbank transfer|\bvat\b|\btax(es)?\b", 1.5, WEAK),
        (r"\bfees?\b|\bcost(s)?\b|\bmoney back\b", 1.5, WEAK),
    ),
    Category.ACCOUNT: _cues(
        (r"\bpasswords?\b", 2.5, STRONG),
        (
            r"\b2fa\b|\btwo[- ]factor|\bauthenticator|\bverification code|\bbackup codes?",
            2.5,
            STRONG,
        ),
        (
            r"\bcan'?t (log ?in|login|sign in)|\bcannot (log ?in|login|sign in)|\blocked out",
            2.5,
            STRONG,
        ),
        (r"\blog ?in\b|\blog-in\b|\bsign ?in\b|\blogin\b", 1.5, WEAK),
        (r"\bsign[- ]?up\b|\bsignup|\bregist(er|ration)\b", 2, STRONG),
        (
            r"\b(delete|close|cancel\w*|remove|deactivate)\s+(my |our |the |a |an )?(\w+ )?account"
            r"|\b(create|creating|open|opening) (a |an |my |our )?(new )?(\w+ )?account|\busername",
            2.5,
            STRONG,
        ),
        (
            r"\b(edit|update|modify|change)\w* (my |our |the )?(\w+ )?(account|profile) "
            r"(details|information|info|settings)",
            2,
            STRONG,
        ),
        (r"\bchange (my |our |the )?e-?mail|\b(my|our) profile\b", 2, STRONG),
        (r"\baccount\b", 1.5, WEAK),
    ),
    Category.TECHNICAL: _cues(
        (r"\bapi\b|\bsdk\b|\bendpoints?\b|\bwebhooks?\b", 2.5, STRONG),
        (r"\bsso\b|\bsaml\b|\boauth|\bsingle sign[- ]on|\bokta\b", 2.5, STRONG),
        (
            r"\boutage|\bdowntime|\bis down\b|\bwent down\b|\brate limit"
            # An HTTP status, not any three digits ("sums to 1,420").
            r"|\b(http|status|code|returns?|returned|gets?|getting)\s*[45]\d\d\b"
            r"|\b[45]\d\d (errors?|status|responses?)\b",
            2.5,
            STRONG,
        ),
        (r"\btime ?outs?\b|\btimed out|\blatency|\bslow(ly|ness|ed)?\b", 2, STRONG),
        # Sync that stopped is the integrations article's own subject, not a defect report.
        (
            r"\b(stopped|not|n't|never) sync(ing|ed|hroni[sz]\w*)?\b|\bsync\w* (fail|stopp)",
            2,
            STRONG,
        ),
        (r"\bintegrat|\bsync(ing|ed|hroni[sz]\w*)?\b", 1.5, WEAK),
        (r"\bconfigur|\bset ?up\b|\binstall|\bdns\b|\bssl\b|\btls\b|\bcertificate", 1.5, WEAK),
        (r"\bperformance|\bloading|\bserver|\bconnection|\bconnect\b", 1, WEAK),
        (
            r"\bhow (do|can) (i|we)\b.*\b(connect|export|import|configure|enable|set up)\b",
            1.5,
            WEAK,
        ),
    ),
    Category.BUG_REPORT: _cues(
        (r"\bbugs?\b|\bglitch|\bregression", 3, STRONG),
        (r"\bcrash", 3, STRONG),
        (r"\bfreez(e|es|ing)\b|\bfroze(n)?\b|\bhangs\b", 2, STRONG),
        (
            r"\bbroken\b|\bdoes ?n[o']?t work|\bno longer works|\bnothing happens"
            r"|\bstopped (working|updating|responding|loading|saving)"
            r"|\bceased to (work|function)"
            r"|\b(is|are|was|were) not (working|updating|loading|showing|saving"
            r"|responding)",
            2,
            STRONG,
        ),
        (
            r"\berror message|\bexception\b|\bstack ?trace|\bsteps to reproduce"
            r"|\bexpected\b[^.?!]{0,60}\bactual",
            2,
            STRONG,
        ),
        (
            r"\bwrong (result|total|value|number|date|time)|\bincorrect|\bshows? the wrong",
            2,
            STRONG,
        ),
        (r"\bdata loss\b|\blost (all )?(our |my )?data\b|\bdisappeared\b|\bvanished\b", 2, STRONG),
        (r"\berrors?\b|\bfail(s|ed|ing|ure)?\b|\bunexpected(ly)?\b", 1, WEAK),
        (r"\bproblems?\b|\bissues?\b|\btrouble\b|\bdifficult(y|ies)\b", 1, WEAK),
    ),
    Category.FEATURE_REQUEST: _cues(
        (r"\bfeature request|\bnew feature|\benhancement request|\broadmap", 3, STRONG),
        (
            r"\bwould be (great|nice|helpful|useful) (if|to have)|\bit would help|\bwould love",
            2.5,
            STRONG,
        ),
        (
            r"\bplease add\b|\b(could|can|would) you (please )?add\b"
            r"|\badd (an? )?(option|ability|way)|\badd support for",
            3,
            STRONG,
        ),
        (r"\bsuggestion|\bi suggest|\bwe suggest|\bwish\b|\bdark mode", 2, STRONG),
        (r"\bfeature\b|\bsupport for\b|\bintegration with\b", 1.5, WEAK),
    ),
    Category.GENERAL: _cues(
        (
            r"\b(my|our|the|an|this|last) order\b|\bplaced an order|\border (number|status)"
            r"|\b(cancel\w*|change|modify|track\w*|status of) (my |the |an |this |a )?"
            r"(order|purchase)\b|\b(order|purchase) (#|no\.? ?)?\d{3,}"
            r"|\b(place|placing|make|making) (an |a )?order|\bhow (do|can) i order\b"
            r"|\btracking (number|information|link|page)",
            2.5,
            STRONG,
        ),
        (
            r"\bdelivery (date|time|options?|status)|\bshipping\b|\bshipped\b|\bparcel"
            r"|\bcourier",
            2,
            STRONG,
        ),
        (r"\bdeliver(y|ed)\b", 1.5, WEAK),  # parcels, but webhooks and e-mails are delivered too
        (r"\bnewsletter|\bunsubscribe", 2.5, STRONG),
        (
            r"\b(speak|talk|chat|get in touch)(ing)? (to|with) (a |an |the |your )?(human|person"
            r"|real person|agent|someone|customer (service|support|assistance))"
            r"|\b(call|phone|reach) (your |the )?customer (service|support)"
            r"|\bcustomer service (hours|number|phone)|\bphone hours|\bopening hours",
            2.5,
            STRONG,
        ),
        (r"\bcomplain|\bcomplaint|\bfeedback\b", 2, STRONG),
        (r"\bpurchase|\bbuy(ing)?\b|\bpackage\b|\bshipping address\b", 1, WEAK),
    ),
}
