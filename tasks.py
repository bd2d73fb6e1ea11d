"""cdclab's command line: `invoke --list`. Each namespace lives in cdclab.cli.<name>."""

from invoke import Collection

from cdclab.cli import (
    aws,
    bench,
    catalog,
    connect,
    docker,
    dump,
    experiment,
    fault,
    lab,
    watch,
    with_help,
)

ns = with_help(
    Collection(
        lab.ns,
        fault.ns,
        dump.ns,
        aws.ns,
        docker.ns,
        experiment.ns,
        experiment.results,
        experiment.experiments,
        experiment.report,
        watch.ns,
        connect.ns,
        connect.logs,
        bench.bench,
        catalog.catalog,
    )
)
