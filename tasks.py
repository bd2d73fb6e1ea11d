"""cdclab's command line: `invoke --list`. Each namespace lives in cdclab.cli.<name>."""

from invoke import Collection

from cdclab.cli import experiment, lab

ns = Collection(lab.ns, experiment.experiment, experiment.experiments, experiment.report)
