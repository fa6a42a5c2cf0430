#!/usr/bin/env python3
"""A discrete-event model of reportq's worker side, driven by measured per-stage costs.

    cargo run --release --example scaling_bench > target/scaling.json
    python3 scripts/simulate.py target/scaling.json

The measurements (examples/scaling_bench.rs) come from a calibration run: one worker with one
render slot, so that each stage's own cost is seen without contention: `prepare` (claim to
render start), `render` (the TeX child: CPU-bound, one core), `finish` (upload and records),
plus single S3 and SQS operation latencies and the workers' start-up.

The model (the same for a laptop and for Lambda):
- a worker (a `reportq worker` process, or a Lambda instance) receives up to `batch` messages,
  runs them with `slots` at once, waits for all, deletes them, receives again;
- renders share the CPUs they run on (processor sharing: k renders on c cores each progress at
  min(1, c/k)); prepare and finish are I/O and wait, whatever the CPU does;
- locally every worker shares the machine's cores; on Lambda each instance has its own
  memory/1769 vCPUs, and the event source adds instances at its scaling rate up to a cap.

Part 1 predicts the two local runs the bench measured after the calibration (1 worker x 2
slots, 2 workers x 2 slots) and prints the error; part 2 uses the same model with Lambda's
figures for the capacity plan in the README ("Scaling"): throughput per instance, the
concurrency 100,000 and 1,000,000 reports an hour need, how long the ramp takes, which limits
bind, and the cost per 1,000 reports.

Stdlib only; deterministic (seeded sampling of the measured stage samples).
"""

import heapq
import json
import random
import statistics
import sys


class Model:
    """Workers pulling from one queue; renders on shared or per-worker CPUs."""

    def __init__(self, stages, *, jobs, workers, slots, batch, cpus, shared_cpu, receive_ms, delete_ms,
                 start_ms, seed=1, start_times=None):
        self.rng = random.Random(seed)
        self.stages = stages
        self.queue = jobs
        self.workers = workers
        self.slots = slots
        self.batch = batch
        self.cpus = cpus  # per worker, or the machine's if shared
        self.shared = shared_cpu
        self.receive_ms = receive_ms
        self.delete_ms = delete_ms
        self.start_times = start_times or [start_ms] * workers
        self.done = 0
        self.finish_times = []

    def run(self):
        """Runs until every job is done: the time (ms) the last one finished."""
        t = 0.0
        seq = 0
        events = []

        def push(at, kind, data):
            nonlocal seq
            heapq.heappush(events, (at, seq, kind, data))
            seq += 1

        for w, st in enumerate(self.start_times[: self.workers]):
            push(st, "receive", w)
        active = {}  # render id -> [remaining cpu ms, worker, stage sample]
        waiting = {w: 0 for w in range(self.workers)}  # received, not started
        in_batch = {w: 0 for w in range(self.workers)}  # received, not finished
        rid = 0

        def rates():
            groups = {}
            for i, (_, w, _) in active.items():
                groups.setdefault("all" if self.shared else w, []).append(i)
            out = {}
            for ids in groups.values():
                r = min(1.0, self.cpus / len(ids))
                for i in ids:
                    out[i] = r
            return out

        def start_job(w, now):
            s = self.rng.choice(self.stages)
            waiting[w] -= 1
            push(now + s["prepare_ms"], "render", (w, s))

        while events or active:
            r = rates()
            to_render = min((rem / r[i] for i, (rem, _, _) in active.items()), default=float("inf"))
            to_event = events[0][0] - t if events else float("inf")
            dt = max(0.0, min(to_render, to_event))
            for i in active:
                active[i][0] -= dt * r[i]
            t += dt
            if to_render <= to_event:
                for i in [i for i, a in active.items() if a[0] <= 1e-6]:
                    _, w, s = active.pop(i)
                    push(t + s["finish_ms"], "finished", w)
                continue
            _, _, kind, data = heapq.heappop(events)
            if kind == "receive":
                w = data
                n = min(self.batch, self.queue)
                if n == 0:
                    continue  # the queue is empty for good: this worker has nothing more
                self.queue -= n
                waiting[w] = n
                in_batch[w] = n
                push(t + self.receive_ms, "batch", w)
            elif kind == "batch":
                w = data
                for _ in range(min(self.slots, waiting[w])):
                    start_job(w, t)
            elif kind == "render":
                w, s = data
                active[rid] = [float(s["render_ms"]), w, s]
                rid += 1
            elif kind == "finished":
                w = data
                in_batch[w] -= 1
                self.done += 1
                self.finish_times.append(t)
                if waiting[w]:
                    start_job(w, t)
                elif in_batch[w] == 0:
                    push(t + self.delete_ms, "receive", w)
        return max(self.finish_times) if self.finish_times else 0.0

    def simulate(self, total):
        self.total = total
        self.queue = total
        return self.run()


def local(data):
    runs = {r["name"]: r for r in data["runs"]}
    cal = runs["calibration"]
    stages = cal["stages"]
    first_claim = min(s["claimed_at_ms"] for s in stages) - cal["spawned_at_ms"]
    lat = data["latency"]
    cores = data["machine"]["cores"]
    print("Local stack (LocalStack, reportq worker processes, %d cores)" % cores)
    print("calibration (1 worker x 1 slot, %d jobs): render p50 %.0f ms, prepare p50 %.0f ms, finish p50 %.0f ms, "
          "worker start to first claim %.0f ms, S3 op %.1f ms, SQS op %.1f ms" % (
              cal["jobs"], statistics.median(s["render_ms"] for s in stages), statistics.median(s["prepare_ms"] for s in stages),
              statistics.median(s["finish_ms"] for s in stages), first_claim, lat["s3_op_ms"], lat["sqs_op_ms"]))
    rows = []
    for name in ("1 worker", "2 workers"):
        r = runs[name]
        preds = []
        for seed in range(20):
            m = Model(stages, jobs=r["jobs"], workers=r["workers"], slots=r["slots"], batch=10, cpus=cores, shared_cpu=True,
                      receive_ms=lat["sqs_op_ms"], delete_ms=lat["sqs_op_ms"], start_ms=first_claim, seed=seed)
            end = m.simulate(r["jobs"])
            # The bench polls the batch every 500 ms: it sees the end 250 ms later on average.
            preds.append(r["jobs"] / ((end + 250.0) / 1000.0) * 60.0)
        pred = statistics.mean(preds)
        err = (pred - r["jobs_per_minute"]) / r["jobs_per_minute"] * 100
        rows.append((name, r["workers"], r["slots"], r["jobs"], r["jobs_per_minute"], pred, err))
    print("| run | workers x slots | jobs | measured jobs/min | predicted jobs/min | error |")
    print("|---|---|---|---|---|---|")
    for name, w, s, n, meas, pred, err in rows:
        print("| %s | %d x %d | %d | %.1f | %.1f | %+.1f %% |" % (name, w, s, n, meas, pred, err))
    return rows


# Lambda and AWS figures the plan uses (public documentation, us-east-1 list prices).
LAMBDA_GB_SECOND = 0.0000166667  # x86
LAMBDA_REQUEST = 0.20 / 1e6
SQS_REQUEST = 0.40 / 1e6  # standard queue, per 64 KB request
S3_PUT = 0.005 / 1000  # PUT, COPY, POST, LIST
S3_GET = 0.0004 / 1000  # GET, HEAD
HTTP_API_REQUEST = 1.00 / 1e6
LOG_GB = 0.50  # CloudWatch Logs ingestion
XRAY_TRACE = 5.00 / 1e6
VCPU_MB = 1769  # one vCPU's worth of Lambda memory


def aws(data, worker_mb=2048, batch=4, s3_ms=20.0, sqs_ms=15.0):
    runs = {r["name"]: r for r in data["runs"]}
    cal = runs["calibration"]
    stages = cal["stages"]
    # On AWS each S3 call is slower than LocalStack's on loopback: the I/O stages scale with it.
    io = s3_ms / data["latency"]["s3_op_ms"]
    aws_stages = [dict(s, prepare_ms=s["prepare_ms"] * io, finish_ms=s["finish_ms"] * io) for s in stages]
    cpus = worker_mb / VCPU_MB
    slots = 2  # Lambda shows 2 CPUs at 2048 MB; REPORTQ_RENDER_CONCURRENCY defaults to that
    # One instance kept busy: its throughput and how long each invocation takes.
    n = 400
    m = Model(aws_stages, jobs=n, workers=1, slots=slots, batch=batch, cpus=cpus, shared_cpu=False,
              receive_ms=sqs_ms, delete_ms=sqs_ms, start_ms=0.0, seed=7)
    end = m.simulate(n)
    per_instance = n / (end / 1000.0)  # reports a second
    busy_s_per_report = 1.0 / per_instance
    print()
    print("Lambda model: worker %d MB (%.2f vCPU), %d render slots, batch %d; S3 %.0f ms and SQS %.0f ms a call (assumed, in-region)" % (
        worker_mb, cpus, slots, batch, s3_ms, sqs_ms))
    print("one busy instance: %.2f reports/s (%.2f s of instance time a report)" % (per_instance, busy_s_per_report))
    print("| target | reports/s | instances busy | event-source ramp (5, +300/min) | account concurrency (1,000 default) |")
    print("|---|---|---|---|---|")
    for per_hour in (100_000, 1_000_000):
        rate = per_hour / 3600
        need = rate / per_instance
        ramp_min = max(0.0, (need - 5) / 300)
        print("| %s an hour | %.1f | %.0f | %.1f min to reach it | %s |" % (
            f"{per_hour:,}", rate, need, ramp_min, "fits" if need < 900 else "raise the quota"))
    # Requests per report, from the calibration's request log (the bench's own polls removed).
    ops = cal["ops"]
    polls = cal["polls"]
    poll_ops = {k: v / 10 for k, v in data["ten_polls_ops"].items()}
    per = {}
    for k, v in ops.items():
        per[k] = max(0.0, v - poll_ops.get(k, 0) * polls) / cal["jobs"]
    s3_put = per.get("s3.PutObject", 0) + per.get("s3.ListObjectsV2", 0)
    s3_get = per.get("s3.GetObject", 0) + per.get("s3.HeadObject", 0)
    # SQS on Lambda: the event source's receives (one per batch, plus its idle long polls,
    # not counted here) and deletes (one DeleteMessageBatch a batch); the submit's sends.
    sqs = 1 / batch + 1 / batch + 1 / 10
    log_bytes = cal["worker_log_bytes"] / cal["jobs"] + 400 / batch  # + Lambda's START/END/REPORT lines
    per1000 = {
        "Lambda worker (GB-seconds)": 1000 * busy_s_per_report * worker_mb / 1024 * LAMBDA_GB_SECOND,
        "Lambda invocations (worker, API)": (1000 / batch + 2) * LAMBDA_REQUEST,
        "SQS requests": 1000 * sqs * SQS_REQUEST,
        "S3 PUT/LIST (%.1f a report)" % s3_put: 1000 * s3_put * S3_PUT,
        "S3 GET/HEAD (%.1f a report, +1 download)" % s3_get: 1000 * (s3_get + 1) * S3_GET,
        "API Gateway (1 batch call, 1 link fetch a report)": 1001 * HTTP_API_REQUEST,
        "CloudWatch Logs incl. EMF (%.1f KB a report)" % (log_bytes / 1024): 1000 * log_bytes / 1e9 * LOG_GB,
        "X-Ray (one trace a report)": 1000 * XRAY_TRACE,
    }
    print()
    print("Cost per 1,000 reports (DiAGRAM example, tagged; storage not included):")
    print("| item | USD |")
    print("|---|---|")
    for k, v in per1000.items():
        print("| %s | %.4f |" % (k, v))
    print("| **total** | **%.3f** |" % sum(per1000.values()))
    return per_instance


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "target/scaling.json"
    with open(path) as f:
        data = json.load(f)
    rows = local(data)
    aws(data)
    worst = max(abs(r[6]) for r in rows)
    print()
    print("worst local prediction error: %.1f %% (target: within 15 %%)" % worst)


if __name__ == "__main__":
    main()
