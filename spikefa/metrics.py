"""Alignment and error metrics shared by rate-based and spiking experiments."""

import numpy as np


def angle(a, b) -> float:
    """Angle in degrees between two arrays, flattened: arccos(a.b / (|a| |b|)).

    NaN when either is all zeros (no direction).
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0.0 or nb == 0.0:
        return float("nan")
    return float(np.degrees(np.arccos(np.clip(a @ b / (na * nb), -1.0, 1.0))))


def row_angles(a, b) -> np.ndarray:
    """Angle in degrees between matching rows of two (n, m) matrices (NaN for zero rows)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    num = np.einsum("ij,ij->i", a, b)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.degrees(np.arccos(np.clip(num / den, -1.0, 1.0)))


def batch_delta_angle(delta, delta_bp) -> float:
    """Angle between a rule's teaching signals and backprop's over a batch (n, units):
    the mean of the per-sample angles, skipping samples where either is zero."""
    ang = row_angles(delta, delta_bp)
    ang = ang[np.isfinite(ang)]
    return float(ang.mean()) if ang.size else float("nan")


def nse(y_target, y) -> float:
    """Normalised squared error sum (y* - y)^2 / sum (y* - mean(y*))^2 over a batch (n, k)."""
    y_target = np.asarray(y_target, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    den = np.sum((y_target - y_target.mean(axis=0)) ** 2)
    return float(np.sum((y_target - y) ** 2) / den) if den > 0 else float("nan")


def error_rate(scores, labels) -> float:
    """Fraction of rows whose arg-max is not the label (ties go to the lowest class)."""
    return float(np.mean(np.argmax(scores, axis=1) != np.asarray(labels)))
