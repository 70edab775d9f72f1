"""``python -m connect_devstack``."""

from __future__ import annotations

import sys

from connect_devstack.cli import main

sys.exit(main())
