"""``python -m suites.cli``: the command line."""
from suites.cli.commands import main

main()
