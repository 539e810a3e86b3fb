"""``python -m inpaint_models.cli``: the same as the ``inpaint`` command."""

import sys

from inpaint_models.cli import main

if __name__ == "__main__":
    sys.exit(main())
