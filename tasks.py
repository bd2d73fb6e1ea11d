"""cdclab's command line: `invoke --list`. Each namespace lives in cdclab.cli.<name>."""

from invoke import Collection

from cdclab.cli import lab

ns = Collection(lab.ns)
