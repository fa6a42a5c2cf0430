// reportq's browser client: submit a report request (or a batch), poll its job with back-off,
// and fetch the finished PDF from its presigned URL. One ES module, no dependencies, no build
// step; `reportq serve` (and the API Lambda) serve it at /reportq.js.
//
//   import { submitAndPoll, saveBlob } from "https://reports.example.org/reportq.js";
//   const { blob, filename } = await submitAndPoll(request, {
//     baseUrl: "https://reports.example.org",
//     onProgress: (p) => console.log(p.status),
//   });
//   saveBlob(blob, filename);
//
// The API's answers are the ones in /openapi.json: 202 with `Location` for a submission, the
// job (or batch) as JSON when polled, `result.url` a presigned GET once it has succeeded.

/** An error from the API (or the download), with the API's own code and field when it gave them. */
export class ReportqError extends Error {
  constructor(message, { status = 0, code = "", field = undefined, body = undefined } = {}) {
    super(message);
    this.name = "ReportqError";
    this.status = status;
    this.code = code;
    this.field = field;
    this.body = body;
  }
}

const sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal && signal.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    if (signal) signal.addEventListener("abort", () => { clearTimeout(t); reject(signal.reason); }, { once: true });
  });

function join(baseUrl, path) {
  return new URL(path, baseUrl ? baseUrl.replace(/\/?$/, "/") : document.baseURI).toString();
}

/** Seconds to wait from a Retry-After header (seconds or an HTTP date), or null. */
function retryAfterMs(resp) {
  const v = resp.headers.get("retry-after");
  if (!v) return null;
  const secs = Number(v);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const when = Date.parse(v);
  return Number.isFinite(when) ? Math.max(0, when - Date.now()) : null;
}

async function apiError(resp, what) {
  let body;
  try { body = await resp.json(); } catch (_) { body = undefined; }
  const e = (body && body.error) || {};
  const where = e.field ? ` (${e.field})` : "";
  return new ReportqError(`${what}: ${e.message || resp.status + " " + resp.statusText}${where}`, {
    status: resp.status, code: e.code || "", field: e.field, body,
  });
}

/** GET a JSON resource, waiting out 429/503 answers as Retry-After says. */
async function getJson(url, { signal, fetchImpl, apiKey }) {
  for (let tries = 0; ; tries++) {
    const resp = await fetchImpl(url, { signal, headers: authorized({ accept: "application/json" }, apiKey), cache: "no-store" });
    if (resp.ok) return resp.json();
    const wait = retryAfterMs(resp);
    if ((resp.status === 429 || resp.status === 503) && tries < 10) {
      await sleep(wait ?? 1000, signal);
      continue;
    }
    throw await apiError(resp, "polling failed");
  }
}

/** `headers` with the API key, for a deployment that needs one (REPORTQ_AUTH=keys). */
function authorized(headers, apiKey) {
  return apiKey ? { ...headers, authorization: `Bearer ${apiKey}` } : headers;
}

async function submit(url, body, { signal, fetchImpl, idempotencyKey, apiKey }) {
  const headers = authorized({ "content-type": "application/json", accept: "application/json" }, apiKey);
  // A key makes a retried submit (say, after a network error) return the first try's job.
  if (idempotencyKey) headers["idempotency-key"] = idempotencyKey;
  for (let tries = 0; ; tries++) {
    const resp = await fetchImpl(url, { method: "POST", headers, body: JSON.stringify(body), signal });
    if (resp.status === 202) {
      const answer = await resp.json();
      const location = resp.headers.get("location");
      return { answer, location: location ? join(url, location) : null };
    }
    const wait = retryAfterMs(resp);
    // A used-up daily quota (429 quota_exceeded) says to wait hours: that is an error, not a pause.
    if ((resp.status === 429 || resp.status === 503) && wait !== null && wait <= 60000 && tries < 5 && idempotencyKey) {
      await sleep(wait, signal);
      continue;
    }
    throw await apiError(resp, "the request was refused");
  }
}

/** Polls `url` until `done(answer)`, backing off from `minDelayMs` to `maxDelayMs`. */
async function poll(url, done, { signal, fetchImpl, apiKey, onProgress, minDelayMs, maxDelayMs, timeoutMs }) {
  const until = Date.now() + timeoutMs;
  let delay = minDelayMs;
  for (;;) {
    const answer = await getJson(url, { signal, fetchImpl, apiKey });
    if (onProgress) onProgress(answer);
    if (done(answer)) return answer;
    if (Date.now() + delay > until) throw new ReportqError(`gave up waiting after ${Math.round(timeoutMs / 1000)} s`, { code: "timeout" });
    await sleep(delay, signal);
    delay = Math.min(maxDelayMs, Math.round(delay * 1.5));
  }
}

/** The PDF of a succeeded job, from its presigned URL (the bucket's CORS rules allow the page's origin). */
export async function download(job, { signal, fetchImpl = fetch.bind(globalThis) } = {}) {
  if (job.status !== "succeeded" || !job.result) {
    const e = job.error || {};
    throw new ReportqError(`the job ${job.status}: ${e.message || "no report"}`, { code: e.code || job.status, body: job });
  }
  const resp = await fetchImpl(job.result.url, { signal });
  if (!resp.ok) throw new ReportqError(`downloading the report failed: ${resp.status}`, { status: resp.status, code: "download_failed" });
  const blob = await resp.blob();
  return { job, blob, url: job.result.url, filename: job.result.filename };
}

/** The SHA-256 of a blob as hex (what the job's `result.sha256` says), where the browser has SubtleCrypto. */
export async function sha256(blob) {
  if (!globalThis.crypto || !crypto.subtle) return null;
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

const defaults = (o) => ({
  baseUrl: "",
  fetchImpl: fetch.bind(globalThis),
  minDelayMs: 500,
  maxDelayMs: 5000,
  timeoutMs: 30 * 60 * 1000,
  ...o,
});

/**
 * Submits one report request, polls its job and downloads the PDF.
 * Resolves to `{ job, blob, url, filename }`: the PDF as a Blob, and its presigned URL (for a
 * link; it expires, see `job.result.expires_at`). Rejects with a ReportqError.
 * Options: baseUrl, apiKey (rq_..., where the API needs one), onProgress(job), signal,
 * idempotencyKey, minDelayMs, maxDelayMs, timeoutMs.
 */
export async function submitAndPoll(request, options = {}) {
  const o = defaults(options);
  const { answer, location } = await submit(join(o.baseUrl, "v1/reports"), request, o);
  if (o.onProgress) o.onProgress(answer);
  const jobUrl = location || join(o.baseUrl, `v1/reports/${answer.job_id}`);
  const job = await poll(jobUrl, (j) => j.status === "succeeded" || j.status === "failed", o);
  return download(job, o);
}

/**
 * Submits many requests as one batch (up to 1,000), polls the batch and downloads every
 * succeeded job's PDF. Resolves to `{ batch, reports: [{ job, blob, url, filename } | { job, error }] }`
 * in the order of `requests`. onProgress receives the batch status (`counts`, `done`).
 */
export async function submitBatchAndPoll(requests, options = {}) {
  const o = defaults(options);
  const { answer, location } = await submit(join(o.baseUrl, "v1/reports/batch"), { requests }, o);
  const batchUrl = location || join(o.baseUrl, `v1/batches/${answer.batch_id}`);
  const batch = await poll(batchUrl, (b) => b.done === true, o);
  const reports = [];
  for (const id of answer.job_ids) {
    const job = await getJson(join(o.baseUrl, `v1/reports/${id}`), o);
    try {
      reports.push(await download(job, o));
    } catch (error) {
      reports.push({ job, error });
    }
  }
  return { batch, reports };
}

/** Requests from a file's text: one JSON request, a JSON array of them, `{"requests": [...]}`, or JSONL. */
export function parseRequests(text) {
  const t = text.trim();
  try {
    const v = JSON.parse(t);
    if (Array.isArray(v)) return v;
    if (v && Array.isArray(v.requests)) return v.requests;
    return [v];
  } catch (_) {
    return t.split(/\r?\n/).filter((l) => l.trim()).map((line, i) => {
      try { return JSON.parse(line); } catch (e) { throw new ReportqError(`line ${i + 1} is not JSON: ${e.message}`, { code: "malformed_json" }); }
    });
  }
}

/** Offers a blob as a download, as a link click would. */
export function saveBlob(blob, filename) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = filename || "report.pdf";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}
