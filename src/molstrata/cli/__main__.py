"""``python -m molstrata.cli``: run the ``molstrata`` command line."""

from molstrata.cli import main

main()
