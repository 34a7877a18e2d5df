"""Feedback-path rules; importing this package registers every rule module in it."""

from . import bp, dfa, fa, kolen_pollack, node_perturbation, shallow, sign_symmetry, weight_mirror  # noqa: F401
from .base import FeedbackRule, LayerFeedback, get_rule, register, rule_names

__all__ = ["FeedbackRule", "LayerFeedback", "get_rule", "register", "rule_names"]
