"""Creates reportq's bucket and queues (with DLQ redrive) in LocalStack.

The one init step for every emulator reportq talks to: LocalStack runs it from
/etc/localstack/init/ready.d at each start (infra/docker-compose.yml mounts this folder),
scripts/localstack.sh runs it on the host, and the Rust test harness runs it for each test's own
bucket and queues, so the three cannot drift. Idempotent.

Settings (environment): REPORTQ_BUCKET (reportq-local), REPORTQ_QUEUE_NAME (reportq-jobs, the
bulk lane; the interactive lane is REPORTQ_INTERACTIVE_QUEUE_NAME, default reportq-interactive
(NAME-interactive for another NAME); both redrive to NAME-dlq; webhook deliveries go through
NAME-webhooks (reportq-webhooks for the default NAME), redriving to its own DLQ), REPORTQ_CORS_ORIGINS (the
browser origins allowed to read reports from the bucket, comma-separated), REPORTQ_VISIBILITY_TIMEOUT_SECS (180: must exceed the worker's per-job deadline
and, on AWS, the worker Lambda's timeout), REPORTQ_MAX_RECEIVE_COUNT (5: deliveries before the
DLQ), AWS_ENDPOINT_URL (default http://localhost:4566), AWS_REGION (us-east-1).
Prints the queue URLs as shell assignments for scripts to eval.
"""

import json
import os

import boto3
from botocore.config import Config


def env(name, default):
    value = os.environ.get(name, "").strip()
    return value or default


def bucket_cors_rule(origins):
    """The bucket's one CORS rule: what lets a browser read a report it was redirected to.

    The one definition of it: infra/template.yaml's ReportBucket carries the same rule, and
    infra/check_template.py compares the two. Reading only (GET/HEAD): a presigned URL is
    already the permission, CORS only lets a page's script see the bytes. "null" is there
    because after a cross-origin redirect (page -> API -> S3) the browser sends `Origin: null`.
    """
    return {
        "AllowedOrigins": list(origins) + ["null"],
        "AllowedMethods": ["GET", "HEAD"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["Content-Disposition", "Content-Length", "ETag"],
        "MaxAgeSeconds": 600,
    }


def main():
    endpoint = env("AWS_ENDPOINT_URL", "http://localhost:4566")
    region = env("AWS_REGION", env("AWS_DEFAULT_REGION", "us-east-1"))
    bucket = env("REPORTQ_BUCKET", "reportq-local")
    queue = env("REPORTQ_QUEUE_NAME", "reportq-jobs")
    interactive = env("REPORTQ_INTERACTIVE_QUEUE_NAME", "reportq-interactive" if queue == "reportq-jobs" else f"{queue}-interactive")
    visibility = int(env("REPORTQ_VISIBILITY_TIMEOUT_SECS", "180"))
    max_receive = int(env("REPORTQ_MAX_RECEIVE_COUNT", "5"))
    session = boto3.session.Session(
        aws_access_key_id=env("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=env("AWS_SECRET_ACCESS_KEY", "test"),
        region_name=region,
    )
    cfg = Config(retries={"max_attempts": 10, "mode": "standard"}, s3={"addressing_style": "path"})
    s3 = session.client("s3", endpoint_url=endpoint, config=cfg)
    sqs = session.client("sqs", endpoint_url=endpoint, config=cfg)

    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass
    # Finished reports are fetched within minutes; keep them a week. Idempotency keys protect
    # retries, which come within hours; keep them a day.
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [
                {"ID": "expire-reports", "Status": "Enabled", "Filter": {"Prefix": "reports/"},
                 "Expiration": {"Days": 7}},
                {"ID": "expire-idempotency-keys", "Status": "Enabled", "Filter": {"Prefix": "idempotency/"},
                 "Expiration": {"Days": 1}},
                # A key's daily counts matter on their day only; delivery records as long as
                # the reports they announce.
                {"ID": "expire-usage", "Status": "Enabled", "Filter": {"Prefix": "usage/"},
                 "Expiration": {"Days": 2}},
                {"ID": "expire-webhook-records", "Status": "Enabled", "Filter": {"Prefix": "webhooks/"},
                 "Expiration": {"Days": 7}},
            ]
        },
    )

    dlq_url = sqs.create_queue(QueueName=f"{queue}-dlq", Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attrs = {
        "VisibilityTimeout": str(visibility),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive)}),
    }
    urls = {}
    for name in (queue, interactive):
        try:
            urls[name] = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        except sqs.exceptions.QueueNameExists:
            urls[name] = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            sqs.set_queue_attributes(QueueUrl=urls[name], Attributes=attrs)
    # Webhook deliveries: their own queue and DLQ, so a receiver that keeps failing never
    # touches the render queues. A delivery takes at most its 10 s timeout (60 s visibility);
    # its retries are new messages with a delay, so the redrive only catches crashes.
    webhooks = "reportq-webhooks" if queue == "reportq-jobs" else f"{queue}-webhooks"
    wdlq_url = sqs.create_queue(QueueName=f"{webhooks}-dlq", Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    wdlq_arn = sqs.get_queue_attributes(QueueUrl=wdlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    wattrs = {
        "VisibilityTimeout": "60",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": wdlq_arn, "maxReceiveCount": str(max_receive)}),
    }
    try:
        urls[webhooks] = sqs.create_queue(QueueName=webhooks, Attributes=wattrs)["QueueUrl"]
    except sqs.exceptions.QueueNameExists:
        urls[webhooks] = sqs.get_queue_url(QueueName=webhooks)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=urls[webhooks], Attributes=wattrs)
    origins = [o.strip() for o in env("REPORTQ_CORS_ORIGINS", "").split(",") if o.strip()]
    if origins:
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [bucket_cors_rule(origins)]})
    print(f"REPORTQ_BUCKET={bucket}")
    print(f"REPORTQ_QUEUE_URL={urls[queue]}")
    print(f"REPORTQ_INTERACTIVE_QUEUE_URL={urls[interactive]}")
    print(f"REPORTQ_DLQ_URL={dlq_url}")
    print(f"REPORTQ_WEBHOOK_QUEUE_URL={urls[webhooks]}")


if __name__ == "__main__":
    main()
