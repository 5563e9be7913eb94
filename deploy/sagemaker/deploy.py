"""Deploy the credit-risk image to SageMaker: model, endpoint configuration, endpoint;
or run a batch transform job on a CSV in S3.

The image is the one ``bentoml containerize`` builds, pushed to ECR. SageMaker
starts it as ``docker run IMAGE serve``; the model's environment makes the
service listen on 8080 and answer ``/ping`` and ``/invocations``
(``credit_risk/serving/aws/sagemaker.py``).

    python deploy/sagemaker/deploy.py endpoint --image URI --role ARN [--serverless]
    python deploy/sagemaker/deploy.py transform --image URI --role ARN \\
        --input s3://bucket/applications.csv --output s3://bucket/decisions/
    ... --dry-run   # print the requests, checked against botocore's model, send nothing

Every request is built by a function below, so that tests check them offline
(``tests/deploy/test_deploy_aws.py``) with botocore's own validation and ``Stubber``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import Any, Final

CONTAINER_ENVIRONMENT: Final = {
    # The bento's entrypoint turns PORT into BENTOML_PORT: SageMaker calls 8080.
    "PORT": "8080",
    "CREDIT_RISK_SAGEMAKER": "true",
    # The container's disk dies with it: decision records go to standard output,
    # which SageMaker sends to CloudWatch Logs.
    "CREDIT_RISK_RECORDS_SINK": "stdout",
    # Batch transform sends MULTI_RECORD payloads of up to 1 MB (/execution-parameters),
    # about 33,500 CSV lines: the row cap follows the body limit here, not the API's 1,000.
    # CSV checks are linear, so such a body is ~1 s of work (docs/reliability.md).
    "CREDIT_RISK_MAX_CSV_ROWS": "35000",
}
"""The container's environment on SageMaker (tests/deploy/test_aws.py runs the image with it).
No API key: SageMaker authenticates ``invoke_endpoint`` with IAM (SigV4) before a
request reaches the container, and cannot forward a key to it."""

CSV_TYPE: Final = "text/csv"
DEFAULT_INSTANCE: Final = "ml.c5.large"
"""2 vCPUs, as measured: the service's two API workers."""


@dataclass(frozen=True)
class Serverless:
    """SageMaker serverless inference: memory per environment and concurrency."""

    memory_mb: int = 2048
    max_concurrency: int = 5


def model_request(name: str, image_uri: str, role_arn: str) -> dict[str, Any]:
    """``CreateModel``: the image and its environment."""
    return {
        "ModelName": name,
        "ExecutionRoleArn": role_arn,
        "PrimaryContainer": {
            "Image": image_uri,
            "Mode": "SingleModel",
            "Environment": dict(CONTAINER_ENVIRONMENT),
        },
    }


def endpoint_config_request(
    name: str,
    model_name: str,
    *,
    instance_type: str = DEFAULT_INSTANCE,
    instance_count: int = 1,
    serverless: Serverless | None = None,
) -> dict[str, Any]:
    """``CreateEndpointConfig``: instances, or serverless inference."""
    variant: dict[str, Any] = {"VariantName": "main", "ModelName": model_name}
    if serverless is None:
        variant |= {"InstanceType": instance_type, "InitialInstanceCount": instance_count}
    else:
        variant["ServerlessConfig"] = {
            "MemorySizeInMB": serverless.memory_mb,
            "MaxConcurrency": serverless.max_concurrency,
        }
    return {"EndpointConfigName": name, "ProductionVariants": [variant]}


def endpoint_request(name: str, config_name: str) -> dict[str, Any]:
    """``CreateEndpoint``."""
    return {"EndpointName": name, "EndpointConfigName": config_name}


def transform_job_request(
    name: str,
    model_name: str,
    input_uri: str,
    output_uri: str,
    *,
    instance_type: str = DEFAULT_INSTANCE,
    instance_count: int = 1,
    max_payload_mb: int = 1,
    max_concurrent: int = 2,
) -> dict[str, Any]:
    """``CreateTransformJob``: a CSV in S3, one application per line, decisions as CSV lines."""
    return {
        "TransformJobName": name,
        "ModelName": model_name,
        # Lines packed into payloads of at most the size the service accepts
        # (what GET /execution-parameters declares).
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": max_payload_mb,
        "MaxConcurrentTransforms": max_concurrent,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
            "ContentType": CSV_TYPE,
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": output_uri, "Accept": CSV_TYPE, "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": instance_type, "InstanceCount": instance_count},
    }


def deploy_endpoint(
    client: Any,
    *,
    name: str,
    image_uri: str,
    role_arn: str,
    serverless: Serverless | None = None,
    wait: bool = False,
) -> list[dict[str, Any]]:
    """Create model, endpoint configuration and endpoint; returns the requests sent."""
    requests = [
        model_request(name, image_uri, role_arn),
        endpoint_config_request(name, name, serverless=serverless),
        endpoint_request(name, name),
    ]
    client.create_model(**requests[0])
    client.create_endpoint_config(**requests[1])
    client.create_endpoint(**requests[2])
    if wait:
        client.get_waiter("endpoint_in_service").wait(EndpointName=name)
    return requests


def run_transform(
    client: Any,
    *,
    name: str,
    image_uri: str,
    role_arn: str,
    input_uri: str,
    output_uri: str,
) -> list[dict[str, Any]]:
    """Create the model and a batch transform job over ``input_uri``; returns the requests."""
    requests = [
        model_request(name, image_uri, role_arn),
        transform_job_request(f"{name}-{int(time.time())}", name, input_uri, output_uri),
    ]
    client.create_model(**requests[0])
    client.create_transform_job(**requests[1])
    return requests


OPERATIONS: Final = {
    "ModelName": "CreateModel",
    "EndpointConfigName": "CreateEndpointConfig",
    "EndpointName": "CreateEndpoint",
    "TransformJobName": "CreateTransformJob",
}


def validate_offline(request: dict[str, Any]) -> str:
    """Check a request against botocore's SageMaker model, offline; returns the operation.

    Raises ``botocore.exceptions.ParamValidationError`` on the first invalid request.
    """
    import botocore.session
    from botocore.exceptions import ParamValidationError
    from botocore.validate import ParamValidator

    # The first identifying key of the request names its operation.
    operation = next(OPERATIONS[key] for key in request if key in OPERATIONS)
    shape = botocore.session.get_session().get_service_model("sagemaker")
    report = ParamValidator().validate(request, shape.operation_model(operation).input_shape)
    if report.has_errors():
        raise ParamValidationError(report=report.generate_report())
    return operation


class _DryRun:
    """A stand-in client that checks and prints each request instead of sending it."""

    def __getattr__(self, method: str) -> Any:
        def call(**request: Any) -> dict[str, Any]:
            operation = validate_offline(request)
            print(f"{operation}: {json.dumps(request, indent=2)}")
            return {}

        return call


def main(argv: list[str] | None = None) -> int:
    """Command line: ``endpoint`` or ``transform``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["endpoint", "transform"])
    parser.add_argument("--image", required=True, help="ECR URI of the image")
    parser.add_argument("--role", required=True, help="SageMaker execution role ARN")
    parser.add_argument("--name", default="credit-risk")
    parser.add_argument("--region", default=None)
    parser.add_argument("--serverless", action="store_true", help="serverless inference")
    parser.add_argument("--input", help="transform: s3:// URI of the CSV")
    parser.add_argument("--output", help="transform: s3:// prefix for the decisions")
    parser.add_argument("--wait", action="store_true", help="endpoint: wait until InService")
    parser.add_argument("--dry-run", action="store_true", help="print the requests, send none")
    args = parser.parse_args(argv)
    if args.dry_run:
        client: Any = _DryRun()
    else:
        import boto3

        client = boto3.client("sagemaker", region_name=args.region)
    common = {"name": args.name, "image_uri": args.image, "role_arn": args.role}
    if args.command == "endpoint":
        serverless = Serverless() if args.serverless else None
        deploy_endpoint(client, **common, serverless=serverless, wait=args.wait)
    else:
        if not (args.input and args.output):
            parser.error("transform needs --input and --output")
        run_transform(client, **common, input_uri=args.input, output_uri=args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
