"""``python -m gtkit`` runs the command line."""

import sys

from gtkit._cli import main

sys.exit(main())
