"""``python -m vostool`` entry point."""

from vostool.cli import main

if __name__ == "__main__":
    main()
