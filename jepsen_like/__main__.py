"""``python -m jepsen_like check ...`` / ``python -m jepsen_like report ...``; see jepsen_like/cli.py."""

import sys

from jepsen_like.cli import main

sys.exit(main())
