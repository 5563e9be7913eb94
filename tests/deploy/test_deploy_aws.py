"""The AWS infrastructure as code, checked offline: nothing is sent to AWS.

* ``deploy/aws-lambda/template.yaml`` passes ``cfn-lint`` (which expands the SAM
  transform locally), and a deliberately broken copy fails it; its function outlasts the
  service's request timeout, its API routes the service's paths only (HAProxy's
  allow-list, but /metrics), and its API key comes from Secrets Manager;
* ``deploy/sagemaker/deploy.py`` builds requests that botocore's own SageMaker
  model accepts, and sends exactly those, in order, through a stubbed client.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ParamValidationError
from botocore.stub import Stubber

from tests.deploy.test_kubernetes import haproxy_allow_list
from tests.support.deploy_scripts import SAGEMAKER_SCRIPT, load_sagemaker_deploy
from tests.support.servers import ROOT

TEMPLATE = ROOT / "deploy" / "aws-lambda" / "template.yaml"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/credit-risk:v1"
ROLE = "arn:aws:iam::123456789012:role/credit-risk-sagemaker"


def cfn_lint(template: Path) -> subprocess.CompletedProcess[str]:
    """Run ``cfn-lint`` on a template."""
    return subprocess.run(
        [str(CFN_LINT), str(template)], capture_output=True, text=True, timeout=120, check=False
    )


def test_lambda_template_passes_cfn_lint() -> None:
    result = cfn_lint(TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_fails_a_broken_copy_of_the_template(tmp_path: Path) -> None:
    text = TEMPLATE.read_text()
    broken = text.replace("ImageUri: !Ref ImageUri", "ImageUri: !Ref ImageUrl").replace(
        "    Default: 2557", "    Default: 7"
    )
    assert broken.count("ImageUrl") == 1 and "Default: 7\n" in broken
    copy = tmp_path / "template.yaml"
    copy.write_text(broken)
    result = cfn_lint(copy)
    assert result.returncode != 0
    # A reference to a parameter that does not exist, a default it does not allow.
    assert "E1020" in result.stdout and "ImageUrl" in result.stdout, result.stdout
    assert "E2015" in result.stdout, result.stdout


def test_template_runs_the_image_as_the_container_tests_do() -> None:
    # The command and working directory are the ones tests/deploy/test_aws.py proves.
    from tests.deploy.test_aws import LAMBDA_COMMAND, LAMBDA_MEMORY_MB, LAMBDA_WORKDIR

    text = TEMPLATE.read_text()
    assert f"Command: {list(LAMBDA_COMMAND)}".replace("'", '"') in text
    assert f"WorkingDirectory: {LAMBDA_WORKDIR}" in text
    assert f"Default: {LAMBDA_MEMORY_MB}" in text


class _TemplateLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (``!Ref X`` -> ``{"Ref": X}`` and the like)."""


def _short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    assert isinstance(node, yaml.MappingNode)
    return {name: loader.construct_mapping(node, deep=True)}


_TemplateLoader.add_multi_constructor("!", _short_tag)


def _function(template: Path = TEMPLATE) -> dict[str, Any]:
    """The function's Properties."""
    document = yaml.load(template.read_text(), Loader=_TemplateLoader)
    return dict(document["Resources"]["CreditRiskFunction"]["Properties"])


def _request_timeout_s() -> int:
    """service.py's REQUEST_TIMEOUT_S, read without importing it (no model needed)."""
    tree = ast.parse((ROOT / "service.py").read_text())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == "REQUEST_TIMEOUT_S"
            and isinstance(node.value, ast.Constant)
        ):
            return int(node.value.value)
    raise AssertionError("service.py defines no REQUEST_TIMEOUT_S")


def test_the_function_outlasts_the_request_timeout() -> None:
    """Lambda must not kill a request the service is still allowed to finish (and record)."""
    timeout = _function()["Timeout"]
    assert timeout > _request_timeout_s(), (timeout, _request_timeout_s())


def test_the_api_routes_the_service_paths_only() -> None:
    """No $default route: every route is a path of the service, the same as HAProxy's."""
    routes: set[tuple[str, str]] = set()
    for name, event in _function()["Events"].items():
        properties = event["Properties"]
        assert event["Type"] == "HttpApi", name
        assert "Path" in properties and "Method" in properties, f"{name}: the $default route"
        assert properties["Method"] in {"GET", "POST"}, name
        # API Gateway waits 30 s at most; a shorter wait would cut the service short.
        assert properties.get("TimeoutInMillis") == 30_000, name
        path = properties["Path"]
        if path.endswith("+}"):  # a greedy variable: everything below the folder
            routes.add(("prefix", path.rpartition("/")[0] + "/"))
        else:
            routes.add(("exact", path))
    # /app and /app/{file+} are what HAProxy's prefix /app/ (with its exact /app) means.
    routes -= {("exact", path.rstrip("/")) for kind, path in routes if kind == "prefix"}
    assert routes == haproxy_allow_list() - {("exact", "/metrics")}


def test_the_api_key_comes_from_secrets_manager() -> None:
    """The key is resolved at deploy time: no template, parameter or output holds it."""
    value = _function()["Environment"]["Variables"]["CREDIT_RISK_API_KEY"]
    assert isinstance(value, dict), "CREDIT_RISK_API_KEY must not be a literal in the template"
    [reference] = value.values()
    assert str(reference).startswith("{{resolve:secretsmanager:"), reference


def _stubbed_client() -> tuple[Any, Stubber]:
    # Fake credentials and a region: the Stubber answers every call, nothing leaves.
    client = boto3.client(
        "sagemaker",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return client, Stubber(client)


@pytest.mark.parametrize("serverless", [False, True])
def test_sagemaker_endpoint_requests_are_valid_and_sent_in_order(serverless: bool) -> None:
    deploy = load_sagemaker_deploy()
    options = deploy.Serverless() if serverless else None
    expected = [
        ("create_model", deploy.model_request("credit-risk", IMAGE, ROLE)),
        (
            "create_endpoint_config",
            deploy.endpoint_config_request("credit-risk", "credit-risk", serverless=options),
        ),
        ("create_endpoint", deploy.endpoint_request("credit-risk", "credit-risk")),
    ]
    client, stubber = _stubbed_client()
    answers = {
        "create_model": {"ModelArn": "arn:aws:sagemaker:eu-west-1:123456789012:model/credit-risk"},
        "create_endpoint_config": {
            "EndpointConfigArn": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint-config/cr"
        },
        "create_endpoint": {"EndpointArn": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/cr"},
    }
    for method, request in expected:
        stubber.add_response(method, answers[method], request)
    with stubber:
        sent = deploy.deploy_endpoint(
            client, name="credit-risk", image_uri=IMAGE, role_arn=ROLE, serverless=options
        )
    stubber.assert_no_pending_responses()
    assert sent == [request for _, request in expected]
    variant = sent[1]["ProductionVariants"][0]
    assert ("ServerlessConfig" in variant) is serverless
    assert ("InstanceType" in variant) is not serverless
    assert sent[0]["PrimaryContainer"]["Environment"]["PORT"] == "8080"


def test_sagemaker_transform_job_reads_csv_lines_from_s3() -> None:
    deploy = load_sagemaker_deploy()
    client, stubber = _stubbed_client()
    stubber.add_response("create_model", {"ModelArn": "arn:aws:sagemaker:eu-west-1:1:model/m"})
    stubber.add_response(
        "create_transform_job", {"TransformJobArn": "arn:aws:sagemaker:eu-west-1:1:transform-job/t"}
    )
    with stubber:
        _, job = deploy.run_transform(
            client,
            name="credit-risk",
            image_uri=IMAGE,
            role_arn=ROLE,
            input_uri="s3://bank/applications.csv",
            output_uri="s3://bank/decisions/",
        )
    stubber.assert_no_pending_responses()
    assert deploy.validate_offline(job) == "CreateTransformJob"
    assert job["TransformInput"]["ContentType"] == "text/csv"
    assert job["TransformInput"]["SplitType"] == "Line"
    assert job["TransformOutput"]["Accept"] == "text/csv"


def test_botocore_validation_rejects_an_invalid_request() -> None:
    deploy = load_sagemaker_deploy()
    request = deploy.endpoint_config_request("credit-risk", "credit-risk")
    request["ProductionVariants"][0]["InitialInstanceCount"] = "one"
    with pytest.raises(ParamValidationError, match="InitialInstanceCount"):
        deploy.validate_offline(request)


def test_deploy_script_dry_run_prints_checked_requests() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(SAGEMAKER_SCRIPT),
            "endpoint",
            "--image",
            IMAGE,
            "--role",
            ROLE,
            "--serverless",
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin"},  # no AWS credentials or configuration at all
    )
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if line.startswith("Create")] == [
        "CreateModel: {",
        "CreateEndpointConfig: {",
        "CreateEndpoint: {",
    ]
