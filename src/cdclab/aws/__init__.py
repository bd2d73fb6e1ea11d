"""The AWS target: one EC2 host per run, provisioned with boto3."""
