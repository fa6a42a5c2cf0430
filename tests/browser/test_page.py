"""The page at / and its client module (reportq.js) in a real browser: the page on one origin,
the API on another, the PDFs downloaded from S3 (LocalStack) on a third."""
import copy
import json

import jsonschema
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import http_json


def wait_state(browser, *states, seconds=90):
    WebDriverWait(browser, seconds).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") in states)
    return browser.find_element(By.TAG_NAME, "body").get_attribute("data-state")


def downloads(browser):
    return [(a.get_attribute("data-job-id"), a.get_attribute("data-sha256"), a.get_attribute("download"))
            for a in browser.find_elements(By.CSS_SELECTOR, "#results a")]


def assert_matches_jobs(stack, links):
    for job_id, sha, filename in links:
        status, _, job = http_json("GET", f"{stack.api}/v1/reports/{job_id}")
        assert status == 200 and job["status"] == "succeeded", job
        # The blob the page holds is the job's PDF, byte for byte.
        assert sha == job["result"]["sha256"], (sha, job["result"])
        assert filename == job["result"]["filename"]


def test_templates_listing_schemas_accept_their_examples(stack):
    status, _, listed = http_json("GET", f"{stack.api}/v1/templates")
    assert status == 200
    for t in listed["templates"]:
        jsonschema.Draft7Validator.check_schema(t["schema"])
        jsonschema.validate(t["example"]["params"], t["schema"])
        # And a request the server refuses for its shape, the schema refuses too.
        broken = copy.deepcopy(t["example"]["params"])
        broken["unexpected"] = 1
        assert list(jsonschema.Draft7Validator(t["schema"]).iter_errors(broken))
        assert http_json("POST", f"{stack.api}/v1/reports", {"template": t["name"], "params": broken})[0] == 400


def test_single_report_from_the_page(stack, browser, shots):
    stack.start_worker()
    browser.get(f"{stack.page}/index.html?api={stack.api}")
    assert wait_state(browser, "ready", "error") == "ready", browser.find_element(By.ID, "status").text
    Select(browser.find_element(By.ID, "template")).select_by_value("summary")
    shots("ready")
    browser.find_element(By.ID, "submit").click()
    shots("submitted")
    assert wait_state(browser, "done", "error") == "done", browser.find_element(By.ID, "status").text
    shots("done")
    links = downloads(browser)
    assert len(links) == 1
    assert_matches_jobs(stack, links)


def test_batch_from_the_page_as_jsonl(stack, browser, shots):
    stack.start_worker()
    browser.get(f"{stack.page}/index.html?api={stack.api}")
    assert wait_state(browser, "ready", "error") == "ready"
    _, _, listed = http_json("GET", f"{stack.api}/v1/templates")
    example = next(t["example"] for t in listed["templates"] if t["name"] == "summary")
    lines = []
    for i in range(3):
        r = copy.deepcopy(example)
        r["params"]["title"] = f"Batch report {i + 1}"
        lines.append(json.dumps(r))
    box = browser.find_element(By.ID, "request")
    browser.execute_script("arguments[0].value = arguments[1];", box, "\n".join(lines))
    shots("batch-pasted")
    browser.find_element(By.ID, "submit").click()
    assert wait_state(browser, "done", "error", seconds=120) == "done", browser.find_element(By.ID, "status").text
    shots("batch-done")
    links = downloads(browser)
    assert len(links) == 3
    assert len({job for job, _, _ in links}) == 3
    assert_matches_jobs(stack, links)


def test_the_page_served_by_the_api_itself(stack, browser, shots):
    """`reportq serve` serves the page at / (same origin as the API: no ?api= needed)."""
    stack.start_worker()
    browser.get(f"{stack.api}/")
    assert wait_state(browser, "ready", "error") == "ready", browser.find_element(By.ID, "status").text
    Select(browser.find_element(By.ID, "template")).select_by_value("diagram")
    shots("diagram-template")
    browser.find_element(By.ID, "submit").click()
    assert wait_state(browser, "done", "error") == "done", browser.find_element(By.ID, "status").text
    shots("done")
    assert_matches_jobs(stack, downloads(browser))


def test_an_invalid_request_shows_the_field(stack, browser, shots):
    browser.get(f"{stack.page}/index.html?api={stack.api}")
    assert wait_state(browser, "ready", "error") == "ready"
    box = browser.find_element(By.ID, "request")
    browser.execute_script("arguments[0].value = arguments[1];", box, json.dumps({"template": "summary", "params": {"title": "", "sections": []}}))
    browser.find_element(By.ID, "submit").click()
    assert wait_state(browser, "error") == "error"
    shots("refused")
    assert "params.title" in browser.find_element(By.ID, "status").text


def test_the_page_sends_an_api_key_where_the_api_needs_one(stack, browser, shots):
    stack.start_worker()
    # The templates listing is open, so the page loads; the submit needs the key.
    browser.get(f"{stack.page}/index.html?api={stack.api_keyed}")
    assert wait_state(browser, "ready", "error") == "ready", browser.find_element(By.ID, "status").text
    Select(browser.find_element(By.ID, "template")).select_by_value("summary")
    browser.find_element(By.ID, "submit").click()
    assert wait_state(browser, "done", "error") == "error"
    shots("no-key")
    status = browser.find_element(By.ID, "status").text
    assert "API key" in status and "Authorization" in status, status
    assert not downloads(browser)
    # With the key: a cross-origin POST whose preflight must allow the Authorization header,
    # polls with it, and the PDF from S3.
    browser.find_element(By.ID, "apikey").send_keys(stack.key)
    browser.find_element(By.ID, "submit").click()
    assert wait_state(browser, "done", "error") == "done", browser.find_element(By.ID, "status").text
    shots("with-key")
    links = downloads(browser)
    assert len(links) == 1
    assert_matches_jobs(stack, links)
    # The job is the key's: without a key the keyed API says 401, with it 200.
    job_id = links[0][0]
    assert http_json("GET", f"{stack.api_keyed}/v1/reports/{job_id}")[0] == 401
    assert http_json("GET", f"{stack.api_keyed}/v1/reports/{job_id}", headers={"authorization": f"Bearer {stack.key}"})[0] == 200
