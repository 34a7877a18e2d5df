"""Feedback-path rules; importing this package registers every rule module in it."""

from . import bp, dfa, fa  # noqa: F401  (registration)
from .base import FeedbackRule, LayerFeedback, get_rule, register, rule_names

__all__ = ["FeedbackRule", "LayerFeedback", "get_rule", "register", "rule_names"]
