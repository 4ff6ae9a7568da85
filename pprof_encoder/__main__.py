"""Entry point of ``python -m pprof_encoder``."""

import sys

from .cli import main

sys.exit(main())
