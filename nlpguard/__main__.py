"""``python -m nlpguard``: the ``nlpguard`` command line."""
import sys

from .apps.cli import main

sys.exit(main())
