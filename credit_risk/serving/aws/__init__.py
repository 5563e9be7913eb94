"""AWS targets of the one image: AWS Lambda behind API Gateway, and SageMaker.

``lambda_handler`` wraps the service's own ASGI app for Lambda (Mangum);
``lambda_paths`` moves everything the service writes to ``/tmp`` on Lambda;
``sagemaker`` maps SageMaker's container contract (``/ping``, ``/invocations``,
``/execution-parameters``) onto the service's existing endpoints.
"""
