"""DiAGRAM's frontend flows, made from a page the way the frontend makes them (see
diagram-frontend.html): the page on one origin, the API on another, S3 on a third."""
import base64
import copy
import json
import os
import re
import subprocess
import tempfile

import pytest

from conftest import MODEL, ROOT, call, http_json


def models():
    with open(os.path.join(ROOT, "examples", "diagram.json")) as f:
        return json.load(f)["params"]["models"]


def open_page(stack, browser, api=None, origin=None):
    browser.get(f"{origin or stack.page}/diagram-frontend.html?api={api or stack.api}")


def pdf_text(b64):
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(base64.b64decode(b64))
        f.flush()
        return subprocess.run(["pdftotext", "-layout", f.name, "-"], capture_output=True, text=True, check=True).stdout


def network_order():
    """The test network's nodes in file order, and each node's parents (as its BIF lists them)."""
    text = open(MODEL).read()
    nodes = re.findall(r"^variable\s+(\S+)\s*\{", text, re.M)
    parents = {m.group(1): [p.strip() for p in m.group(2).split(",")] if m.group(2) else []
               for m in re.finditer(r"^probability\s*\(\s*(\S+)\s*(?:\|\s*([^)]*))?\)", text, re.M)}
    return nodes, parents


def job_of(stack, job_id):
    status, _, job = http_json("GET", f"{stack.api}/v1/reports/{job_id}")
    assert status == 200, job
    return job


def test_pdf_with_no_worker_is_an_error_then_the_retry_joins_the_job(stack, browser, shots):
    stack.stop_worker()
    open_page(stack, browser)
    ms = models()[:3]
    ms[0]["notes"] = "Exported while no worker ran"
    first = call(browser, "exportPdf", ms)
    shots("no-worker")
    # Never a 2xx: the frontend would have saved this body as the PDF.
    assert not first["ok"] and first["status"] == 503, first
    body = json.loads(base64.b64decode(first["base64"]))
    assert body["error"]["code"] == "report_pending", body
    # The user tries again: the same body joins the same job rather than queueing another.
    again = call(browser, "exportPdf", ms)
    assert again["status"] == 503
    assert json.loads(base64.b64decode(again["base64"]))["job_id"] == body["job_id"]
    stack.start_worker()
    for _ in range(5):
        done = call(browser, "exportPdf", ms)
        if done["status"] != 503:
            break
    shots("with-worker")
    assert done["ok"] and done["status"] == 200 and done["contentType"] == "application/pdf", {k: v for k, v in done.items() if k != "base64"}
    assert base64.b64decode(done["base64"]).startswith(b"%PDF-")
    assert done["savedAs"].startswith("models-") and done["savedAs"].endswith(".pdf")
    # The PDF the browser saved is the first job's.
    assert done["sha256"] == job_of(stack, body["job_id"])["result"]["sha256"]


def test_pdf_over_the_inline_limit_follows_the_redirect_to_s3(stack, browser, shots):
    """The API answers 303 to a presigned S3 URL; the XHR follows it to a third origin (sending
    `Origin: null`, a cross-origin redirect taints it) and the bucket's CORS rule lets it read."""
    stack.start_worker()
    open_page(stack, browser, api=stack.api_redirect)
    ms = models()[:2]
    ms[0]["notes"] = "Large enough to redirect"
    for _ in range(5):
        r = call(browser, "exportPdf", ms)
        if r["status"] != 503:
            break
    shots("redirected")
    assert r["ok"] and r["status"] == 200, {k: v for k, v in r.items() if k != "base64"}
    assert r["responseURL"].startswith(stack.s3), r["responseURL"]
    assert "X-Amz-Signature" in r["responseURL"]
    assert base64.b64decode(r["base64"]).startswith(b"%PDF-")
    assert "Large enough to redirect" in pdf_text(r["base64"])


def test_advanced_model_from_default_with_null_response(stack, browser, shots):
    stack.start_worker()
    open_page(stack, browser)
    base = models()[0]
    scored = call(browser, "scoreModel", base)
    assert scored["ok"], scored
    # The advanced editor's columns: nodes in the network's order, each table's parents first.
    nodes, parents = network_order()
    assert scored["nodeOrder"] == nodes
    for node, cols in scored["columns"].items():
        assert cols[:len(parents[node])] == parents[node], (node, cols)
    # "New advanced model from default": no answers, the tables in `advanced`.
    adv = copy.deepcopy(base)
    adv.update(model_name="Advanced Archive", scenario="Base Model", response=None, is_advanced=True,
               advanced=scored["score"]["nodes"], intellectual_control=round(scored["score"]["intellectual_control"]),
               renderability=round(scored["score"]["renderability"]))
    again = call(browser, "scoreModel", adv)
    assert again["ok"], again
    valid = call(browser, "uploadFile", json.dumps([adv, base]))
    assert valid["body"]["status"] is True, valid
    for _ in range(5):
        pdf = call(browser, "exportPdf", [adv, base])
        if pdf["status"] != 503:
            break
    shots("advanced")
    assert pdf["ok"], {k: v for k, v in pdf.items() if k != "base64"}
    text = pdf_text(pdf["base64"])
    assert "Advanced Archive" in text
    csv = call(browser, "exportCsv", [adv, base])
    assert csv["ok"] and csv["contentType"].startswith("text/csv")
    # As the old backend: the CSV leaves advanced models out.
    assert "Advanced Archive" not in csv["text"] and base["model_name"] in csv["text"]


def test_invalid_upload_says_could_not_extract(stack, browser, shots):
    open_page(stack, browser)
    for text in ("this is not a models file", json.dumps([{"model_name": "x"}]), json.dumps({"not": "a list"})):
        r = call(browser, "uploadFile", text)
        assert r["ok"] and r["status"] == 200, r
        assert r["body"]["status"] is False and r["body"]["error"]["message"], r
        assert browser.find_element("id", "message").text == "Could not extract models from file"
    shots("invalid-upload")


def test_chart_shows_in_an_img(stack, browser, shots):
    open_page(stack, browser)
    rows = [{"model_name": m["model_name"], "scenario": m["scenario"], "intellectual_control": m["intellectual_control"],
             "renderability": m["renderability"]} for m in models()]
    r = call(browser, "showChart", rows)
    shots("chart")
    assert r["ok"] and r["width"] > 100 and r["height"] > 100, r


@pytest.mark.parametrize("route", ["model/score", "report/pdf"])
def test_cors_unlisted_origin_is_refused_listed_works(stack, browser, route):
    # A preflight from an origin the API does not list gets no CORS grant...
    status, headers, _ = http_json("OPTIONS", f"{stack.api}/api/{route}",
                                   headers={"origin": stack.other, "access-control-request-method": "POST",
                                            "access-control-request-headers": "content-type"})
    assert headers.get("access-control-allow-origin") is None, dict(headers)
    # ...and a listed one does.
    status, headers, _ = http_json("OPTIONS", f"{stack.api}/api/{route}",
                                   headers={"origin": stack.page, "access-control-request-method": "POST",
                                            "access-control-request-headers": "content-type"})
    assert headers.get("access-control-allow-origin") == stack.page


def test_cors_in_the_browser(stack, browser, shots):
    # The same page on an unlisted origin: the browser blocks the call (status 0, no answer).
    open_page(stack, browser, origin=stack.other)
    r = call(browser, "scoreModel", models()[0])
    shots("unlisted-origin")
    assert not r["ok"] and r["status"] == 0, r
    # On a listed origin the same call works.
    open_page(stack, browser)
    assert call(browser, "scoreModel", models()[0])["ok"]
