"""`python -m gruve`: the `gruve` command (what Lightning's DDP launcher runs again for each rank)."""

from gruve.cli import run

if __name__ == "__main__":
    run()
