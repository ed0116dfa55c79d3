"""ouroboros: synthetic tabular data that knows about model collapse."""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
