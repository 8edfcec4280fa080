"""Metrics as the field reports them: Dice, 95th-percentile Hausdorff, ROC AUC, the confusion matrix,
and percentile-bootstrap confidence intervals. Shared by the training and evaluation scripts."""
from typing import Callable, Dict, Sequence

import numpy as np
from scipy import ndimage, stats


def dice(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Dice of two boolean masks; 1 when both are empty."""
    total = prediction.sum() + truth.sum()
    return 1.0 if total == 0 else float(2 * np.logical_and(prediction, truth).sum() / total)


def surface(mask: np.ndarray) -> np.ndarray:
    return np.logical_and(mask, np.logical_not(ndimage.binary_erosion(mask)))


def hausdorff95(prediction: np.ndarray, truth: np.ndarray, spacing: Sequence[float]) -> float:
    """95th percentile of the symmetric surface distances in mm (as the Decathlon and nnU-Net report it);
    inf when exactly one mask is empty, 0 when both are."""
    if not prediction.any() and not truth.any():
        return 0.0
    if not prediction.any() or not truth.any():
        return float("inf")
    to_truth = ndimage.distance_transform_edt(np.logical_not(surface(truth)), sampling=spacing)
    to_prediction = ndimage.distance_transform_edt(np.logical_not(surface(prediction)), sampling=spacing)
    distances = np.concatenate([to_truth[surface(prediction)], to_prediction[surface(truth)]])
    return float(np.percentile(distances, 95))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve = the Mann-Whitney U statistic over (positives x negatives), ties half."""
    labels = np.asarray(labels).astype(bool)
    u = stats.mannwhitneyu(scores[labels], scores[~labels], alternative="two-sided").statistic
    return float(u / (labels.sum() * (~labels).sum()))


def youden_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold maximising sensitivity + specificity - 1 (predict positive at score >= threshold)."""
    labels = np.asarray(labels).astype(bool)
    candidates = np.unique(scores)
    j = [np.mean(scores[labels] >= t) + np.mean(scores[~labels] < t) - 1 for t in candidates]
    return float(candidates[int(np.argmax(j))])


def classification_report(labels: np.ndarray, scores: np.ndarray, threshold: float) -> Dict[str, object]:
    labels = np.asarray(labels).astype(bool)
    predicted = scores >= threshold
    tp = int(np.sum(predicted & labels))
    fp = int(np.sum(predicted & ~labels))
    tn = int(np.sum(~predicted & ~labels))
    fn = int(np.sum(~predicted & labels))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"auc": roc_auc(labels, scores), "accuracy": (tp + tn) / len(labels), "precision": precision,
            "recall": recall, "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "confusion_matrix": {"true_negative": tn, "false_positive": fp, "false_negative": fn, "true_positive": tp}}


def bootstrap_ci(statistic: Callable[[np.ndarray], float], n: int, repeats: int = 2000, seed: int = 0):
    """95 % percentile-bootstrap interval of STATISTIC(indices) over N cases resampled with replacement."""
    rng = np.random.default_rng(seed)
    values = [statistic(rng.integers(0, n, n)) for _ in range(repeats)]
    low, high = np.percentile(values, [2.5, 97.5])
    return [float(low), float(high)]
