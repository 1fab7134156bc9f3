"""One module per command, each a plain `run(**options) -> int` that `gitmv.cli` imports
only when that command runs; `output` holds what they share for printing (tables, sizes,
`--json`, per-artifact failures).

May import every other part of gitmv; nothing imports the commands but `gitmv.cli`.
This `__init__` imports nothing.
"""
