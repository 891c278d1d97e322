"""``python -m harness``: the same as the ``ode-harness`` command (harness/cli.py)."""

from .cli import main

raise SystemExit(main())
