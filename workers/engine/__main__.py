"""Entry point for `python -m workers.engine`."""

import sys

from workers.engine.cli import main

sys.exit(main())
