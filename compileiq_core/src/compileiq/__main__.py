"""`python -m compileiq ...` runs the command-line interface."""

from compileiq.cli import main

raise SystemExit(main())
