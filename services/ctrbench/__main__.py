"""``python -m ctrbench``: the same CLI as the ``ctrbench`` command."""

from ctrbench.cli import main

# Guarded: worker processes started with "spawn" import this module as __mp_main__ and must not
# run the CLI again.
if __name__ == "__main__":
    main()
