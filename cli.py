"""Run the taskgroup command line from a checkout: `python cli.py --help`."""

from taskgroup.cli import main

if __name__ == "__main__":
    main()
