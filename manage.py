#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys
from pathlib import Path

# platform/ is a sys.path root holding the `webapp` package, never a package itself: a
# package named `platform` would shadow the standard library (docs/architecture.md).
sys.path.insert(0, str(Path(__file__).resolve().parent / "platform"))


def main() -> None:
    from webapp.lib.datadir import use_secret_key

    # The key `make run` keeps in the data directory, so commands sign what the platform reads.
    use_secret_key()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
