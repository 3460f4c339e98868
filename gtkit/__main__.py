"""``python -m gtkit`` runs the command line."""

import sys

from gtkit.cli import main

sys.exit(main())
