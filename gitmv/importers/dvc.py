"""`git mvm import dvc`: DVC-tracked outputs become gitmv pointers (docs/migrating.md)."""

from __future__ import annotations
