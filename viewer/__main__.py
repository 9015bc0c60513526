"""``python -m viewer [DIR]``: the same as the ``tailboard`` command."""
import sys

from .cli import main

sys.exit(main())
