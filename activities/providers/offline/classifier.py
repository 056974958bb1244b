"""Offline classifier: weighted keyword cues per category, confidence from the winning margin."""

import re
from typing import Final

from shared.agents import Category, Classification
from shared.tickets import Ticket

# (pattern, weight). Stems rather than whole words so common misspellings and inflections match
# ("invoic" covers invoice/invoices/invoicing). Tuned on the project's samples and checked against
# real phrasing in bench/offline_accuracy.py.
CUES: Final[dict[Category, list[tuple[str, float]]]] = {
    Category.BILLING: [
        (r"\binvoic", 2),
        (r"\bbill(s|ed|ing)?\b", 2),
        (r"\bcharg", 2),
        (r"\brefund", 2.5),
        (r"\bpayment|\bpaying\b|\bpay\b|\bpaid\b", 1.5),
        (r"\bmoney back\b|\breimburs|\brebate", 2),
        (r"\bcredit card|\bdebit card|\bpaypal|\bbank transfer", 1.5),
        (r"\breceipt", 1.5),
        (r"\bsubscription|\bpric(e|ing)\b|\bplan\b|\bupgrade|\bdowngrade", 1),
        (r"\bfee(s)?\b|\bcost(s)?\b|\bvat\b|\btax(es)?\b", 1.5),
        (r"\bprorat", 2),
        (r"\bovercharg|\bdouble[- ]charg|\bcharged twice", 3),
    ],
    Category.ACCOUNT: [
        (r"\baccount\b", 1.5),
        (r"\bpassword|\bpasscode", 2.5),
        (r"\blog ?in\b|\blog-in\b|\bsign ?in\b|\blogin\b", 1.5),
        (r"\bsign[- ]?up\b|\bsignup|\bregist(er|ration)", 2),
        (r"\b2fa\b|\btwo[- ]factor|\bauthenticator|\bverification code", 2.5),
        (r"\blocked out\b|\busername|\bprofile\b|\bdelete my|\bclose my|\bdeactivat", 2),
        (
            r"\bchange (my )?e-?mail|\bemail address\b"
            r"|\bswitch(ing)? (to )?(the |a |my )?\w+ account",
            2,
        ),
    ],
    Category.TECHNICAL: [
        (r"\bapi\b|\bsdk\b|\bendpoint|\bwebhook|\bintegrat|\bsync", 2),
        (r"\bconfigur|\bset ?up\b|\binstall|\bsso\b|\bsaml|\boauth|\bdns\b|\bssl\b", 1.5),
        (r"\btimeout|\btimed out|\blatency|\bslow|\bperformance|\bloading", 1.5),
        (r"\boutage|\bdown for|\bserver|\bconnection|\b5\d\d\b|\brate limit", 2),
        (r"\bhow (do|can) i\b.*\b(connect|export|import|configure|enable)", 1.5),
    ],
    Category.BUG_REPORT: [
        (r"\bbug\b|\bglitch|\bregression", 3),
        (r"\bcrash", 2.5),
        (r"\bbroken\b|\bdoes ?n[o']?t work|\bnot working|\bstopped working", 1.5),
        (r"\berror\b|\bexception|\bstack ?trace", 1.5),
        (r"\bsteps to reproduce|\bexpected\b.*\bactual", 3),
        (r"\bwrong (result|total|value|number)|\bincorrect|\bshows? the wrong", 2),
        (r"\bdata loss\b|\blost (all )?(our |my )?data\b|\bdisappeared\b", 2),
    ],
    Category.FEATURE_REQUEST: [
        (r"\bfeature\b|\benhancement|\broadmap", 2.5),
        (r"\bwould be (great|nice|helpful)|\bit would help|\bwould love", 2.5),
        (r"\bplease add|\bcould you add|\bcan you add|\badd (an? )?(option|ability|support)", 3),
        (r"\bsuggest|\bwish\b|\brequest(ing)? (a|an|the) (new )?\w+", 1.5),
        (r"\bsupport for\b|\bdark mode|\bintegration with", 1.5),
    ],
    Category.GENERAL: [
        (r"\border\b|\border(s|ed|ing)\b|\bpurchase|\bbuy(ing)?\b", 1.5),
        (r"\bdeliver|\bshipping|\bship(ped)?\b|\btrack(ing)?\b|\bparcel|\bpackage\b", 1.5),
        (
            r"\bnewsletter|\bunsubscribe|\bcontact|\bphone number|\bhuman agent|\bcustomer service",
            1.5,
        ),
        (r"\bcomplain|\bfeedback|\breview\b|\bopinion", 1.5),
        (r"\baddress\b", 1),
    ],
}

_COMPILED: Final = {
    category: [(re.compile(pattern), weight) for pattern, weight in cues]
    for category, cues in CUES.items()
}

NO_CUE_CONFIDENCE: Final = 0.3


def score_categories(text: str) -> dict[Category, float]:
    lowered = text.lower()
    return {
        category: sum(weight for pattern, weight in cues if pattern.search(lowered))
        for category, cues in _COMPILED.items()
    }


def classify(ticket: Ticket) -> Classification:
    # The subject is the customer's own summary: a cue found there counts twice.
    whole = score_categories(f"{ticket.subject}\n{ticket.body}")
    subject = score_categories(ticket.subject)
    scores = {category: whole[category] + subject[category] for category in whole}
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, top), (runner_up, second) = ranked[0], ranked[1]
    if top == 0:
        return Classification(
            category=Category.GENERAL,
            confidence=NO_CUE_CONFIDENCE,
            rationale="no category cue found; filed as General",
        )
    margin = (top - second) / top  # 1.0 when only one category matched
    strength = min(1.0, top / 4.0)  # more evidence, more confidence
    confidence = round(0.3 + 0.45 * margin + 0.24 * strength, 2)
    rationale = f"{best} cues scored {top:g}"
    if second > 0:
        rationale += f", ahead of {runner_up} ({second:g})"
    return Classification(category=best, confidence=confidence, rationale=rationale)
