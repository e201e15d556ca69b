"""``python -m t2.flows.cli ARGS`` is ``t2 ARGS``."""

import sys

from t2.flows.cli.main import main

sys.exit(main())
