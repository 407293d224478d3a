"""Fit the matcher's combination on tests/data/labelled.yaml and dev.yaml and write tracker/matching/model.json.

An editor is simulated on the labelled set so the exemplar features are learnt, in three regimes whose rows are
pooled: `static` (no decisions), `prequential` (items in time order; after each, the editor confirms its labelled
pairs with their stances and rejects the other suggestions of a provisional model) and `leave-one-out` (every other
item decided). Match model: L2 logistic regression by Newton steps (numpy only); its `broader_pull` column is a
second stage filled from the model's own probabilities with that column at 0, refitted a few rounds. Stance
model: L2 multinomial logistic regression by gradient descent over the labelled pairs. Suggest thresholds for
precision targets 0.50..0.95 come from out-of-fold probabilities (5 folds by item) in the static and prequential
regimes: for each target, the lowest threshold whose precision reaches it in both.

Run: .venv/bin/python benchmarks/fit_matcher.py [--report]   (--report: also print labelled-set figures)
Never point this at blind.yaml (nothing may be chosen on it); held-out is kept for choosing between variants.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.matching.embedding import load_embedder  # noqa: E402
from tracker.matching.evaluation import LabelledItem, load_labelled, propositions_from_seeds  # noqa: E402
from tracker.matching.matcher import Matcher  # noqa: E402
from tracker.matching.model import (  # noqa: E402
    FEATURES,
    MODEL_FILE,
    STANCE_FEATURES,
    STANCES,
    MatchModel,
    second_stage,
)
from tracker.matching.profile import Exemplar, PropositionInput  # noqa: E402
from tracker.matching.settings import matcher_options  # noqa: E402
from tracker.seeding import load_seed_files  # noqa: E402

DATA = ROOT / "tests" / "data"
LABELLED = DATA / "labelled.yaml"
FIT_SETS = ("labelled", "heldout", "dev")  # the sets a fit may use; blind.yaml never
L2 = 1.0
STANCE_L2 = 1.0
TARGETS = [round(0.5 + 0.05 * i, 2) for i in range(10)]
CENTRE = True  # centre embeddings on the fit set's mean (embedding_mean in model.json)
PROVISIONAL_THRESHOLD = 0.3  # what the simulated editor is shown while the rows for the final fit are made
STANCE_REGIMES = ("static", "prequential", "leave-one-out")  # the regimes whose labelled pairs fit the stance model
SHARED = ("knn", "prior", "example")  # per-stance stance features whose weight all stances share
SHARED_INDEX = {name: [STANCE_FEATURES.index(f"{name}_{s}") for s in STANCES] for name in SHARED}


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2, iterations: int = 50) -> tuple[np.ndarray, float]:
    """Newton's method on the L2-penalised log-loss (the intercept is not penalised)."""
    design = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[0] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-design @ w))
        gradient = design.T @ (p - y) + penalty * w
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[1:], float(w[0])


# The direction of these is known (resemblance to rejected items counts against, to confirmed ones for); on a
# set whose profiles were written from it, the lexical features would otherwise explain away the exemplar ones
# and leave them with the wrong sign. A feature fitted with the wrong sign is left out and the rest refitted.
POSITIVE = {"lexical", "terms", "entities", "bm25", "bm25_top", "cosine", "cosine_gap", "confirmed_cosine",
            "confirmed_overlap", "confirmed_gap", "lexical_gap", "confirmed_centroid",
            "example_cosine", "example_gap", "example_overlap", "example_centroid", "example_bm25_top",
            "example_tfidf", "example_tfidf_gap", "broader_pull",
            # Having confirmed items may only help: fitted freely it took a negative weight (an offset for
            # confirmed_centroid), so a proposition's confirmations made its unlike items less likely and editors'
            # decisions barely lifted prequential recall. With example_tfidf carrying the confirmed items' words it
            # is held at >= 0 (fitted at 0): held-out prequential recall@3 rose above static (benchmarks/README.md).
            "has_confirmed"}
NEGATIVE = {"rejected_cosine", "rejected_overlap", "rejected_margin"}


def fit_signed(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    active = list(range(x.shape[1]))
    while True:
        coef, intercept = fit_logistic(x[:, active], y)
        wrong = [j for j, c in zip(active, coef, strict=True)
                 if (FEATURES[j] in POSITIVE and c < 0) or (FEATURES[j] in NEGATIVE and c > 0)]
        if not wrong:
            full = np.zeros(x.shape[1])
            full[active] = coef
            return full, intercept
        active = [j for j in active if j != wrong[0]]


def fit_softmax(x: np.ndarray, shared: np.ndarray, y: np.ndarray, classes: int, l2: float = STANCE_L2,
                iterations: int = 4000, rate: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Conditional multinomial logit by full-batch gradient descent: per-class weights on the pair's features
    `x` (n, d), and weights shared by all classes on per-class features `shared` (n, classes, m): the kNN vote
    and the prior for that class, so "editors chose s on similar items" always speaks for s."""
    n, d = x.shape
    m = shared.shape[2]
    w = np.zeros((classes, d))
    b = np.zeros(classes)
    a = np.zeros(m)
    onehot = np.eye(classes)[y]
    for _ in range(iterations):
        logits = x @ w.T + b + shared @ a
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        error = (p - onehot) / n
        w -= rate * (error.T @ x + l2 * w / n)
        b -= rate * error.sum(axis=0)
        # projected: similar confirmed items choosing s can only speak for s
        a = np.maximum(0.0, a - rate * (np.einsum("nc,ncm->m", error, shared) + l2 * a / n))
    return w, b, a


def sort_by_time(items: Sequence[LabelledItem]) -> list[LabelledItem]:
    return sorted(items, key=lambda x: (x.item.published is None, x.item.published, x.item.evidence_id))


Row = tuple[str, str, tuple[float, ...], tuple[float, ...]]  # (item id, proposition id, features, stance features)


def rows_for(matcher: Matcher, labelled: LabelledItem) -> list[Row]:
    return [(labelled.item.evidence_id, r.key, r.features, r.stance_features) for r in matcher.pair_rows(labelled.item)]


def shown(matcher: Matcher, labelled: LabelledItem, model: MatchModel | None) -> list[str]:
    """What a provisional model would suggest (best 3 at or above the provisional threshold)."""
    if model is None:
        return []
    scored = sorted(((model.probability(r.features), r.key) for r in matcher.pair_rows(labelled.item)), reverse=True)
    return [key for p, key in scored if p >= PROVISIONAL_THRESHOLD][:3]


def decisions(labelled: LabelledItem, suggested: Sequence[str]) -> list[tuple[str, Exemplar]]:
    item = labelled.item
    made = [(pid, Exemplar(item.evidence_id, item.title, item.summary, stance))
            for pid, stance in labelled.labels.items()]
    made += [(pid, Exemplar(item.evidence_id, item.title, item.summary, None))
             for pid in suggested if pid not in labelled.labels]
    return made


def embedding_mean(items: Sequence[LabelledItem]) -> list[float] | None:
    """The mean (unit-length) embedding of the fit set's items: the domain's common direction, removed before
    every cosine."""
    embedder = load_embedder()
    if embedder is None or not CENTRE:
        return None
    return [round(float(v), 6) for v in embedder.embed([f"{x.item.title}. {x.item.summary}" for x in items]).mean(0)]


def make_rows(propositions: list[PropositionInput], items: list[LabelledItem],
              provisional: MatchModel | None, mean: Sequence[float] | None = None) -> dict[str, list[Row]]:
    embedder = load_embedder()
    options = {**matcher_options(), "model": None, "embedder": embedder, "embedding_mean": mean}
    static = Matcher(propositions, **options)
    rows: dict[str, list[Row]] = {"static": [], "prequential": [], "leave-one-out": []}
    made: list[tuple[str, Exemplar]] = []
    for labelled in sort_by_time(items):
        rows["static"] += rows_for(static, labelled)
    prequential = Matcher(propositions, **options)
    for labelled in sort_by_time(items):
        rows["prequential"] += rows_for(prequential, labelled)
        for pid, exemplar in decisions(labelled, shown(prequential, labelled, provisional)):
            prequential.learn(pid, exemplar)
            made.append((pid, exemplar))
    loo = Matcher(propositions, **options)
    for pid, exemplar in made:
        loo.learn(pid, exemplar)  # the item itself is never its own exemplar (same evidence id)
    for labelled in items:
        rows["leave-one-out"] += rows_for(loo, labelled)
    return rows


BROADER_ROUNDS = 3


def broader_map(propositions: Sequence[PropositionInput]) -> dict[str, tuple[str, ...]]:
    """Proposition id -> the broader propositions its profile declares (match_profile.broader)."""
    return {p.proposition_id: tuple((p.match_profile or {}).get("broader") or ()) for p in propositions}


def with_broader(rows: Sequence[Row], coef: np.ndarray, intercept: float,
                 broader: dict[str, tuple[str, ...]]) -> list[Row]:
    """The rows with broader_pull filled in item by item, as Matcher._scored_by_model does."""
    def probability(features: Sequence[float]) -> float:
        return float(1.0 / (1.0 + np.exp(-(intercept + np.dot(coef, features)))))

    by_item: dict[str, list[Row]] = {}
    for row in rows:
        by_item.setdefault(row[0], []).append(row)
    result: list[Row] = []
    for item_rows in by_item.values():
        staged = second_stage([(r[1], r[2]) for r in item_rows], probability, broader)
        result += [(r[0], r[1], features, r[3]) for r, (features, _) in zip(item_rows, staged, strict=True)]
    return result


def arrays(rows: Sequence[Row], labels: dict[str, dict[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([r[2] for r in rows], dtype=float)
    y = np.array([1.0 if r[1] in labels[r[0]] else 0.0 for r in rows])
    return x, y


def suggest_sets(rows: Sequence[Row], probabilities: np.ndarray, threshold: float) -> dict[str, list[str]]:
    by_item: dict[str, list[tuple[float, str]]] = {}
    for row, p in zip(rows, probabilities, strict=True):
        by_item.setdefault(row[0], []).append((p, row[1]))
    return {item: [k for p, k in sorted(v, reverse=True) if p >= threshold][:3] for item, v in by_item.items()}


def figures(rows: Sequence[Row], probabilities: np.ndarray, threshold: float,
            labels: dict[str, dict[str, str]]) -> dict[str, float]:
    suggested = suggest_sets(rows, probabilities, threshold)
    pairs = sum(len(v) for v in labels.values())
    hits = sum(1 for item, ls in labels.items() for pid in ls if pid in suggested.get(item, []))
    shown_n = sum(len(v) for v in suggested.values())
    correct = sum(1 for item, v in suggested.items() for pid in v if pid in labels[item])
    return {"recall@3": round(hits / pairs, 4) if pairs else 0.0,
            "precision": round(correct / shown_n, 4) if shown_n else 1.0, "suggestions": shown_n}


def out_of_fold(rows_by_regime: dict[str, list[Row]], labels: dict[str, dict[str, str]],
                folds: int = 5) -> dict[str, np.ndarray]:
    ids = sorted(labels)
    fold_of = {item: i % folds for i, item in enumerate(ids)}
    result = {name: np.zeros(len(rows)) for name, rows in rows_by_regime.items()}
    for k in range(folds):
        train = [r for rows in rows_by_regime.values() for r in rows if fold_of[r[0]] != k]
        coef, intercept = fit_signed(*arrays(train, labels))
        for name, rows in rows_by_regime.items():
            for i, r in enumerate(rows):
                if fold_of[r[0]] == k:
                    result[name][i] = 1.0 / (1.0 + np.exp(-(intercept + np.dot(coef, r[2]))))
    return result


def thresholds(rows_by_regime: dict[str, list[Row]], oof: dict[str, np.ndarray],
               labels: dict[str, dict[str, str]]) -> dict[str, float]:
    grid = [round(0.05 + 0.01 * i, 2) for i in range(91)]
    chosen = {}
    for target in TARGETS:
        for t in grid:
            if all(figures(rows_by_regime[r], oof[r], t, labels)["precision"] >= target
                   for r in ("static", "prequential")):
                chosen[f"{target:.2f}"] = t
                break
        else:
            chosen[f"{target:.2f}"] = grid[-1]
    return chosen


def load_fit_items(names: Sequence[str]) -> list[LabelledItem]:
    """The items of the named sets (labelled, heldout), ids prefixed by set so they never collide."""
    items: list[LabelledItem] = []
    for name in names:
        if name not in FIT_SETS:
            raise SystemExit(f"cannot fit on {name!r}: only {', '.join(FIT_SETS)}")
        for x in load_labelled(DATA / f"{name}.yaml"):
            items.append(replace(x, item=replace(x.item, evidence_id=f"{name}:{x.item.evidence_id}")))
    return items


def fit(propositions: list[PropositionInput], items: list[LabelledItem],
        fitted_on: Sequence[str] = ("labelled",)) -> tuple[dict[str, Any], dict[str, Any]]:
    labels = {x.item.evidence_id: x.labels for x in items}
    # Pass 1: a provisional model from static rows, only to decide what the simulated editor is shown.
    mean = embedding_mean(items)
    first = make_rows(propositions, items, None, mean)
    coef, intercept = fit_signed(*arrays(first["static"] + first["leave-one-out"], labels))
    provisional = MatchModel(tuple(coef), intercept, ((0.0,) * len(STANCE_FEATURES),) * 3, (0.0, 0.0, 0.0),
                             {0.75: PROVISIONAL_THRESHOLD})
    rows = make_rows(propositions, items, provisional, mean)
    pooled = [r for regime in rows.values() for r in regime]
    coef, intercept = fit_signed(*arrays(pooled, labels))
    # The second stage (broader_pull) reads the first stage's probabilities, which are the model's own with that
    # feature at 0: fill it from the model just fitted and refit, a few times (it settles within two or three).
    broader = broader_map(propositions)
    base = rows
    for _ in range(BROADER_ROUNDS if any(broader.values()) else 0):
        rows = {name: with_broader(regime, coef, intercept, broader) for name, regime in base.items()}
        coef, intercept = fit_signed(*arrays([r for regime in rows.values() for r in regime], labels))
    oof = out_of_fold(rows, labels)
    chosen = thresholds(rows, oof, labels)
    # Stance: over the labelled pairs the matcher proposed, in every regime.
    stance_rows = [(r[3], STANCES.index(labels[r[0]][r[1]])) for regime in STANCE_REGIMES for r in rows[regime]
                   if r[1] in labels[r[0]]]
    shared_columns = {i for columns in SHARED_INDEX.values() for i in columns}
    own = [i for i in range(len(STANCE_FEATURES)) if i not in shared_columns]
    sx = np.array([[f[i] for i in own] for f, _ in stance_rows], dtype=float)
    per_class = np.array([[[f[SHARED_INDEX[k][c]] for k in SHARED] for c in range(len(STANCES))]
                          for f, _ in stance_rows], dtype=float)
    sy = np.array([c for _, c in stance_rows])
    w_own, sb, shared_w = fit_softmax(sx, per_class, sy, len(STANCES))
    # Back to one weight row per class over all stance features (the shared weights on that class's columns).
    sw = np.zeros((len(STANCES), len(STANCE_FEATURES)))
    for c in range(len(STANCES)):
        sw[c, own] = w_own[c]
        for k, name in enumerate(SHARED):
            sw[c, SHARED_INDEX[name][c]] = shared_w[k]
    model = {
        "features": list(FEATURES), "coefficients": [round(float(c), 6) for c in coef],
        "intercept": round(intercept, 6),
        "stance_features": list(STANCE_FEATURES), "stances": list(STANCES),
        "stance_coefficients": [[round(float(c), 6) for c in row] for row in sw],
        "stance_intercepts": [round(float(b), 6) for b in sb],
        "thresholds": chosen, "default_precision": 0.75, "embedding_mean": mean,
        "info": {"fitted_on": [f"tests/data/{n}.yaml" for n in fitted_on], "script": "benchmarks/fit_matcher.py",
                 "rows": {k: len(v) for k, v in rows.items()}, "l2": L2, "stance_l2": STANCE_L2,
                 "embedding": "wordllama l2_supercat_256"},
    }
    report = {
        regime: {f"{target}": figures(rows[regime], oof[regime], chosen[target], labels)
                 for target in ("0.70", "0.75", "0.80")}
        for regime in rows
    }
    return model, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="print out-of-fold labelled-set figures")
    parser.add_argument("--output", default=str(MODEL_FILE))
    parser.add_argument("--stance-only", metavar="MODEL",
                        help="keep the match part (coefficients, thresholds, embedding mean) of this model.json and "
                             "refit only the stance model")
    parser.add_argument("--sets", default="labelled,dev",
                        help="comma-separated sets to fit on (labelled, dev, heldout; never blind; default "
                             "labelled,dev, keeping held-out for choosing between variants)")
    args = parser.parse_args()
    source, seeds = load_seed_files(ROOT / "seeds")
    propositions = propositions_from_seeds(seeds, source)
    names = [n.strip() for n in args.sets.split(",") if n.strip()]
    items = load_fit_items(names)
    model, report = fit(propositions, items, names)
    if args.stance_only:
        kept = json.loads(Path(args.stance_only).read_text(encoding="utf-8"))
        for key in ("features", "coefficients", "intercept", "thresholds", "default_precision", "embedding_mean"):
            model[key] = kept[key]
        model["info"]["match_part_from"] = kept.get("info")
    Path(args.output).write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({"thresholds": model["thresholds"], "coefficients": dict(zip(FEATURES, model["coefficients"],
                                                                                   strict=True)),
                      **({"out_of_fold": report} if args.report else {})}, indent=1))


if __name__ == "__main__":
    main()
