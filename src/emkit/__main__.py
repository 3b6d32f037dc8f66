"""``python -m emkit`` runs the command line."""

from emkit.cli import main

main()
