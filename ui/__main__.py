"""`python -m ui [--host H --port P --outputs DIR]`: the same as `scoredream ui`."""

from scoredream.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["ui", *__import__("sys").argv[1:]]))
