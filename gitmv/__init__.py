"""gitmv: version machine-learning models and datasets inside ordinary Git repositories."""

from __future__ import annotations

__version__ = "0.1.0"
