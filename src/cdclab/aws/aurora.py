"""The usual case: the user's Aurora cluster, named by its identifier. Its endpoint, port,
VPC and security groups come from the RDS API, so the instance lands where it can reach the
database, and (on request) the database admits the instance for the run's lifetime."""

from __future__ import annotations

from dataclasses import dataclass

import boto3
from botocore.exceptions import ClientError

from cdclab.core.spec import ExperimentSpec
from cdclab.errors import InvalidInputError


@dataclass(frozen=True)
class SourceAccess:
    """The ingress a run adds to the database's groups: its port, from the instance's group."""

    group_ids: tuple[str, ...]
    port: int


@dataclass(frozen=True)
class AuroraCluster:
    identifier: str
    endpoint: str
    port: int
    vpc_id: str
    security_group_ids: tuple[str, ...]


def describe_cluster(session: boto3.session.Session, identifier: str) -> AuroraCluster:
    rds = session.client("rds")
    try:
        cluster = rds.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"][0]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "DBClusterNotFoundFault":
            raise
        raise InvalidInputError(
            f"external.aurora_cluster: no cluster {identifier!r} in {session.region_name}; "
            "`aws rds describe-db-clusters` lists yours (or give external.db_host instead)"
        ) from exc
    subnets = rds.describe_db_subnet_groups(DBSubnetGroupName=cluster["DBSubnetGroup"])
    return AuroraCluster(
        identifier=identifier,
        endpoint=cluster["Endpoint"],
        port=int(cluster["Port"]),
        vpc_id=subnets["DBSubnetGroups"][0]["VpcId"],
        security_group_ids=tuple(g["VpcSecurityGroupId"] for g in cluster["VpcSecurityGroups"]),
    )


def with_cluster(
    spec: ExperimentSpec, session: boto3.session.Session
) -> tuple[ExperimentSpec, SourceAccess | None]:
    """The spec with what the cluster's description fills in (what the user gave wins: the
    host and port, a subnet or VPC), and the ingress to add if aws.authorize_source."""
    ext, aws = spec.external, spec.aws
    if ext.aurora_cluster is None:
        return spec, None
    cluster = describe_cluster(session, ext.aurora_cluster)
    external = ext.model_copy(
        update={
            "db_host": ext.db_host or cluster.endpoint,
            "db_port": ext.db_port if "db_port" in ext.model_fields_set else cluster.port,
        }
    )
    placed = aws.subnet_id or aws.vpc_id
    settings = aws if placed else aws.model_copy(update={"vpc_id": cluster.vpc_id})
    access = (
        SourceAccess(cluster.security_group_ids, external.db_port) if aws.authorize_source else None
    )
    return spec.model_copy(update={"external": external, "aws": settings}), access
