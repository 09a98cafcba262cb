"""`python3 -m harness ...`: the command line where the console script is not installed (the runner image)."""
import sys

from harness.cli import main

sys.exit(main())
