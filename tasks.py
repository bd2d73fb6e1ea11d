"""cdclab's command line: `invoke --list`. Each namespace lives in cdclab.cli.<name>."""

from invoke import Collection

from cdclab.cli import dump, experiment, fault, lab

ns = Collection(
    lab.ns,
    fault.ns,
    dump.ns,
    experiment.experiment,
    experiment.experiments,
    experiment.report,
)
