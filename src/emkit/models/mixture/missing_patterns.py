"""Rows grouped by missing pattern: :mod:`emkit.gaussian.missing_patterns`, re-exported.

The grouping is shared by the missing-data Gaussian mixture and the HMM states'
missing-data path, so it lives with the Gaussian numerics below both.
"""

from __future__ import annotations

from ...gaussian.missing_patterns import (
    RARE_PATTERN_ROWS,
    MissingPatterns,
    PatternGroup,
    _RarePatterns,
    find_patterns,
)

__all__ = ["PatternGroup", "MissingPatterns", "RARE_PATTERN_ROWS", "find_patterns",
           "_RarePatterns"]
