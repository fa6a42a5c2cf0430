"""Telemetry of the running stack (LocalStack, `reportq serve`, `reportq worker`, as the browser
tests run it): JSON log lines with the fields an operator filters by and nothing a user wrote,
EMF documents as the specification has them, Prometheus counters that move by exactly one a
job, one trace id from submit to the worker, and a job's timeline."""
import json
import os
import re
import time
import urllib.request
import uuid

import jsonschema
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT, http_json


def scrape(url):
    """/metrics through Prometheus's own text-format parser (an exposition it cannot read
    fails the test) -> {metric{labels}: value}, labels in name order."""
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def types(url):
    """{family: type} as the parser reads the # TYPE lines."""
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def summary_request(marker):
    return {"template": "summary", "params": {
        "title": f"Title {marker}", "author": f"Author {marker}",
        "sections": [{
            "heading": f"Heading {marker}", "paragraphs": [f"Paragraph {marker}"],
            "tables": [{"caption": f"Caption {marker}", "header": [f"Head {marker}", "n"], "rows": [[f"Cell {marker}", "1"]]}],
            "charts": [{"title": f"Chart {marker}", "kind": "bar", "categories": [f"Cat {marker}"], "series": [{"name": f"Series {marker}", "values": [3]}]}],
        }]}}


def wait_job(stack, job_id, seconds=90):
    until = time.time() + seconds
    while time.time() < until:
        _, _, job = http_json("GET", f"{stack.api}/v1/reports/{job_id}")
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not done: {job}")


def submit(stack, request, headers=None):
    status, _, body = http_json("POST", f"{stack.api}/v1/reports", request, headers=headers)
    assert status == 202, body
    return body["job_id"]


def test_a_job_moves_each_counter_by_exactly_one(stack):
    stack.start_worker()
    template = "summary"
    api_before, worker_before = scrape(f"{stack.api}/metrics"), scrape(stack.worker_metrics)
    job = wait_job(stack, submit(stack, summary_request("counting")))
    assert job["status"] == "succeeded"
    time.sleep(0.5)  # the worker records its counters as it finishes; give the scrape a moment
    api_after, worker_after = scrape(f"{stack.api}/metrics"), scrape(stack.worker_metrics)

    def moved(before, after, key):
        return after.get(key, 0) - before.get(key, 0)

    assert moved(api_before, api_after, f'reportq_jobs_submitted_total{{template="{template}"}}') == 1
    assert moved(worker_before, worker_after, f'reportq_jobs_succeeded_total{{template="{template}"}}') == 1
    assert moved(worker_before, worker_after, f'reportq_render_ms_count{{template="{template}"}}') == 1
    assert moved(worker_before, worker_after, f'reportq_pdf_bytes_count{{template="{template}"}}') == 1
    assert moved(worker_before, worker_after, "reportq_upload_ms_count") == 1
    assert moved(worker_before, worker_after, 'reportq_queue_wait_ms_count{lane="interactive"}') == 1
    assert moved(api_before, api_after, 'reportq_api_requests_total{route="/v1/reports",status_class="2xx"}') == 1
    worker_types, api_types = types(stack.worker_metrics), types(f"{stack.api}/metrics")
    assert worker_types["reportq_jobs_succeeded"] == "counter", worker_types
    assert worker_types["reportq_render_ms"] == "histogram", worker_types
    assert api_types["reportq_api_latency_ms"] == "histogram", api_types


def test_the_trace_id_set_at_submit_is_the_one_the_worker_logs(stack):
    stack.start_worker()
    trace = uuid.uuid4().hex
    job_id = submit(stack, summary_request("traced"), headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
    job = wait_job(stack, job_id)
    assert job["trace_id"] == trace
    time.sleep(0.5)
    worker_lines = [json.loads(l) for f, l in stack.log_lines() if f == "worker.log" and job_id in l]
    assert worker_lines, "the worker logged nothing for the job"
    spans = [e["span"] for e in worker_lines if e.get("span", {}).get("job_id") == job_id]
    assert spans and all(s.get("trace_id") == trace for s in spans), spans
    api_lines = [json.loads(l) for f, l in stack.log_lines() if f.startswith("serve-") and trace in l]
    assert any(e.get("span", {}).get("route") == "/v1/reports" for e in api_lines)
    # The timeline says what happened, in order.
    events = [e["event"] for e in job["timeline"]]
    assert events == ["queued", "claimed", "rendered", "uploaded", "succeeded"], job["timeline"]
    assert job["timeline"][1]["attempt"] == 1
    # The worker's host and pid are the operator's (record and logs), never shown to callers.
    assert all("worker" not in e for e in job["timeline"]), job["timeline"]
    assert job["timeline"][2]["ms"] > 0


def test_every_log_line_is_json_with_its_fields_and_no_user_text(stack):
    stack.start_worker()
    marker = f"MARKER{uuid.uuid4().hex[:12]}"
    jobs = [submit(stack, summary_request(marker))]
    with open(os.path.join(ROOT, "examples", "diagram.json")) as f:
        models = json.load(f)["params"]["models"][:2]
    for m in models:
        m.update(model_name=f"Archive {marker}", notes=f"Notes {marker}")
    models[1]["scenario"] = f"Scenario {marker}"
    status, _, _ = http_json("POST", f"{stack.api}/api/report/pdf", models)
    assert status in (200, 303), status
    for j in jobs:
        assert wait_job(stack, j)["status"] == "succeeded"
    # A refused request, too: its text is in the error answer, never in the log.
    assert http_json("POST", f"{stack.api}/v1/reports", {"template": "summary", "params": {"title": marker}})[0] == 400
    time.sleep(0.5)
    lines = stack.log_lines()
    assert len(lines) > 20
    answered = handled = 0
    for f, line in lines:
        assert marker not in line, f"{f}: user text in a log line: {line}"
        event = json.loads(line)  # every line, of every process, is one JSON object
        if "_aws" in event:
            continue  # an EMF document (checked below)
        assert {"timestamp", "level", "target"} <= event.keys(), line
        assert "message" in event, line
        if event["message"] == "answered":
            answered += 1
            span = event["span"]
            assert {"method", "route", "trace_id"} <= span.keys() and "status" in event and "latency_ms" in event, line
        if event["message"] == "message handled":
            handled += 1
            span = event["span"]
            assert {"job_id", "message_id", "lane", "template", "attempt", "trace_id"} <= span.keys(), line
    assert answered and handled


def test_emf_documents_are_as_the_specification_says(stack):
    stack.start_worker()
    wait_job(stack, submit(stack, summary_request("emf")))
    time.sleep(0.5)
    with open(os.path.join(ROOT, "tests", "fixtures", "emf.schema.json")) as f:
        schema = json.load(f)
    docs = [d for d in (json.loads(l) for _, l in stack.log_lines() if '"_aws"' in l) if "_aws" in d]
    assert docs
    names = set()
    for doc in docs:
        jsonschema.validate(doc, schema)
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            # What the schema cannot say: every dimension and metric is a member of the document.
            for dims in directive["Dimensions"]:
                for d in dims:
                    assert isinstance(doc.get(d), str), (d, doc)
            for m in directive["Metrics"]:
                assert isinstance(doc.get(m["Name"]), (int, float)), (m, doc)
                names.add(m["Name"])
    # The worker's and the API's figures both went out.
    assert {"JobsSucceeded", "RenderMs", "UploadMs", "PdfBytes", "QueueWaitMs", "JobsSubmitted", "ApiRequests", "ApiLatencyMs"} <= names, names
    # And the negative control: a document without its metric's member fails the check.
    broken = dict(docs[0])
    broken["_aws"] = dict(broken["_aws"], Timestamp="yesterday")
    try:
        jsonschema.validate(broken, schema)
        raise AssertionError("a string Timestamp passed the EMF schema")
    except jsonschema.ValidationError:
        pass


def test_health_asks_s3_and_the_queues(stack):
    status, _, body = http_json("GET", f"{stack.api}/healthz")
    assert status == 200, body
    assert body["status"] == "ok" and body["s3"] and body["queue"] and body["scoring"]
    assert re.fullmatch(r"[0-9a-f]{7,40}|unknown", body["commit"]), body
