"""``python -m slawatch`` runs the same CLI as the ``slawatch`` console script."""

from slawatch.cli.main import main

if __name__ == "__main__":
    main()
