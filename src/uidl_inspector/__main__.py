"""``python -m uidl_inspector``: the same entry point as the console script."""

from uidl_inspector.cli import main

if __name__ == "__main__":
    main()
