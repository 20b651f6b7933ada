"""``python -m meshgw`` runs the command line."""

from __future__ import annotations

import sys

from meshgw._cli import main

sys.exit(main())
