"""python -m monitor."""

from monitor.cli.root import main

if __name__ == "__main__":
    main()
