"""Diagnosis: failing checks grouped into findings with causes, contrasts and reproducers
(issue 11). `model` is the contract shared by the rules, the CLI, the report and the reproducers."""

from harness.diagnosis.model import (CAUSES, UNEXPLAINED, Category, Cause, Confidence, Contrast,
                                     Diagnosis, Finding, parse_categories)

__all__ = ["CAUSES", "UNEXPLAINED", "Category", "Cause", "Confidence", "Contrast", "Diagnosis",
           "Finding", "parse_categories"]
