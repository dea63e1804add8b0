"""`python -m mapfree`: the `mapfree` command."""

import sys

from mapfree.cli import main

sys.exit(main())
