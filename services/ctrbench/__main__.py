"""``python -m ctrbench``: the same CLI as the ``ctrbench`` command."""

from ctrbench.cli import main

main()
