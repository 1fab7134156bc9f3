from __future__ import annotations

from gitmv.cli import main

raise SystemExit(main())
