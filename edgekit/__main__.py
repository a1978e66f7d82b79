"""`python -m edgekit` is the `edgekit` command."""

from .cli import main

if __name__ == "__main__":
    main()
