"""``python -m polyexec`` is the same as the ``polyexec`` command."""

from polyexec.cli import main

raise SystemExit(main())
