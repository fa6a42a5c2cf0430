#!/usr/bin/env python3
"""Checks infra/template.yaml for what cfn-lint does not: the queue outlives the worker by 6x,
the job deadline ends inside the worker's timeout, partial batch failures are on, API
Gateway's CORS headers are the app's, roles allow no wildcard, the bucket stays private and
expires its data. Run by scripts/check-dockerfile.sh with the cfn-lint venv's PyYAML.

    check_template.py TEMPLATE            exit 1 and name each problem
    check_template.py --self-test TEMPLATE    prove each check fails on a broken copy
"""
import copy
import json
import os
import sys

import yaml


class CfnLoader(yaml.SafeLoader):
    pass


def _short_tag(loader, suffix, node):
    # !Ref X -> {"Ref": X}, !GetAtt A.B -> {"Fn::GetAtt": [A, B]}, !Sub/!If/... -> {"Fn::Sub": ...}
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Fn::" + suffix: value}


CfnLoader.add_multi_constructor("!", _short_tag)


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)


def param_values(t, value):
    """Every value a property can take: a literal, or each allowed value of a parameter."""
    if isinstance(value, dict) and "Ref" in value:
        p = t.get("Parameters", {}).get(value["Ref"])
        if p is None:
            raise ValueError(f"!Ref {value['Ref']} is not a parameter")
        return list(p.get("AllowedValues") or [p["Default"]])
    return [value]


def resolve_number(t, value, params):
    """A number from a literal, a !Ref to a parameter (given params) or a !FindInMap."""
    if isinstance(value, dict) and "Ref" in value:
        return float(params[value["Ref"]])
    if isinstance(value, dict) and "Fn::FindInMap" in value:
        m, k1, k2 = value["Fn::FindInMap"]
        k1 = str(int(resolve_number(t, k1, params))) if isinstance(k1, dict) else k1
        return float(t["Mappings"][m][k1][k2])
    return float(value)


def as_list(x):
    return x if isinstance(x, list) else [x]


def statements(t):
    """(where, statement) for every IAM policy statement in the template."""
    for name, r in t["Resources"].items():
        props = r.get("Properties", {})
        docs = []
        if r["Type"] == "AWS::IAM::Role":
            docs = [(f"{name}.{p.get('PolicyName')}", p["PolicyDocument"]) for p in props.get("Policies", [])]
        elif r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy"):
            docs = [(name, props["PolicyDocument"])]
        elif r["Type"] == "AWS::Serverless::Function":
            docs = [(f"{name}.Policies", p) for p in as_list(props.get("Policies", [])) if isinstance(p, dict) and "Statement" in p]
        for where, doc in docs:
            for i, st in enumerate(as_list(doc.get("Statement", []))):
                yield f"{where}[{i}]", st


def check(t):
    problems = []
    res = t["Resources"]
    workers = [(n, r, e) for n, r in res.items() if r["Type"] == "AWS::Serverless::Function"
               for e in r["Properties"].get("Events", {}).values() if e["Type"] == "SQS"]
    if not workers:
        problems.append("no function has an SQS event source")
    for name, fn, event in workers:
        ep = event["Properties"]
        if "ReportBatchItemFailures" not in ep.get("FunctionResponseTypes", []):
            problems.append(f"{name}: the SQS event lacks FunctionResponseTypes: [ReportBatchItemFailures]")
        queue_name = ep["Queue"]["Fn::GetAtt"][0]
        queue = res[queue_name]["Properties"]
        timeout = fn["Properties"].get("Timeout", t.get("Globals", {}).get("Function", {}).get("Timeout", 3))
        timeout_ref = timeout.get("Ref") if isinstance(timeout, dict) else None
        # SAM merges a function's variables over the Globals ones.
        env = dict(t.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}))
        env.update(fn["Properties"].get("Environment", {}).get("Variables", {}))
        deadline = env.get("REPORTQ_JOB_DEADLINE_SECS")
        if "REPORTQ_ROLE" in env:
            deadline = None  # not a renderer (the webhook function): no job deadline to check
        elif deadline is None:
            problems.append(f"{name}: no REPORTQ_JOB_DEADLINE_SECS (the 120 s default can outlive the function)")
        for tv in param_values(t, timeout):
            params = {timeout_ref: tv} if timeout_ref else {}
            vis = resolve_number(t, queue.get("VisibilityTimeout", 30), params)
            if vis < 6 * float(tv):
                problems.append(f"{queue_name}: VisibilityTimeout {vis:g} s < 6 x {name} Timeout {tv} s")
            if deadline is not None and resolve_number(t, deadline, params) >= float(tv):
                problems.append(f"{name}: REPORTQ_JOB_DEADLINE_SECS {resolve_number(t, deadline, params):g} s"
                                f" >= Timeout {tv} s (a stuck render would be retried, never failed as render_timeout)")
        redrive = queue.get("RedrivePolicy", {})
        if "deadLetterTargetArn" not in redrive or "maxReceiveCount" not in redrive:
            problems.append(f"{queue_name}: no RedrivePolicy to a dead-letter queue")
        elif not (isinstance(redrive["maxReceiveCount"], dict) and "Ref" in redrive["maxReceiveCount"]):
            problems.append(f"{queue_name}: maxReceiveCount is not a parameter")
    for name, r in res.items():
        if r["Type"] == "AWS::Serverless::Function" and "Role" not in r["Properties"]:
            # SAM's generated role gets managed policies with Resource "*" (the SQS poller's).
            problems.append(f"{name}: no explicit Role (SAM would generate one with managed policies)")
        if r["Type"] == "AWS::IAM::Role" and r["Properties"].get("ManagedPolicyArns"):
            problems.append(f"{name}: managed policies are not least privilege")
    for where, st in statements(t):
        if st.get("Effect") != "Allow":
            continue  # a Deny with a wildcard only narrows (the bucket's TLS-only rule)
        if set(as_list(st.get("Action", []))) <= STAR_ONLY_ACTIONS:
            continue  # actions IAM only grants on "*"
        for a in as_list(st.get("Action", [])):
            if "*" in a:
                problems.append(f"{where}: wildcard Action {a!r}")
        if "NotAction" in st or "NotResource" in st:
            problems.append(f"{where}: NotAction/NotResource in an Allow")
        for rsc in as_list(st.get("Resource", [])):
            if rsc == "*":
                problems.append(f"{where}: Resource '*'")
    buckets = [(n, r["Properties"]) for n, r in res.items() if r["Type"] == "AWS::S3::Bucket"]
    for name, b in buckets:
        pab = b.get("PublicAccessBlockConfiguration", {})
        for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
            if pab.get(k) is not True:
                problems.append(f"{name}: PublicAccessBlockConfiguration.{k} is not true")
        if not b.get("BucketEncryption"):
            problems.append(f"{name}: no BucketEncryption")
        rules = b.get("LifecycleConfiguration", {}).get("Rules", [])
        if not any(r.get("Status") == "Enabled" and "ExpirationInDays" in r for r in rules):
            problems.append(f"{name}: no enabled lifecycle rule expiring objects")
        tls = [st for where, st in statements(t) if st.get("Effect") == "Deny"
               and st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)]
        if not tls:
            problems.append(f"{name}: no bucket policy denying requests without TLS")
    return problems


# IAM actions that take no resource but "*" (X-Ray's writes, which active tracing needs).
STAR_ONLY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def code_metrics(src):
    """The metric names the code emits: src/metrics.rs's METRICS table."""
    import re
    text = open(src, encoding="utf-8").read()
    table = re.search(r"pub const METRICS: &\[\(&str, &str, &str\)\] = &\[(.*?)\];", text, re.S)
    return set(re.findall(r'\(\s*"(\w+)",\s*"(?:Count|Milliseconds|Bytes)"', table.group(1))) if table else set()


def named_metrics(t):
    """(where, metric) for every metric in the code's namespace an alarm or a dashboard names."""
    import re
    out = []
    for name, r in t["Resources"].items():
        props = r.get("Properties", {})
        if r["Type"] == "AWS::CloudWatch::Alarm" and props.get("Namespace") == "reportq":
            out.append((name, props.get("MetricName")))
        if r["Type"] == "AWS::CloudWatch::Dashboard":
            body = props["DashboardBody"]
            body = body.get("Fn::Sub", body) if isinstance(body, dict) else body
            doc = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
            for w in doc.get("widgets", []):
                ns = metric = None
                for m in w.get("properties", {}).get("metrics", []):
                    if m[0] == "...":
                        pass  # the previous line's namespace and metric, other dimension values
                    else:
                        ns = ns if m[0] == "." else m[0]
                        metric = metric if m[1] == "." else m[1]
                    if ns == "reportq":
                        out.append((f"{name} ({w['properties'].get('title')})", metric))
    return out


def check_metrics(t, src):
    """Every metric of the code's namespace that the template names is one the code emits."""
    emitted = code_metrics(src)
    if not emitted:
        return [f"{src}: no METRICS table found"]
    return [f"{where}: metric {m!r} is not one the code emits ({src} METRICS: {sorted(emitted)})"
            for where, m in named_metrics(t) if m not in emitted]


def app_cors_headers(src):
    """(allowed, exposed) header names of the app's CorsLayer, read from its Rust source."""
    import re
    text = open(src, encoding="utf-8").read()

    def names(call):
        m = re.search(r"\." + call + r"\(\[(.*?)\]\)", text, re.S)
        if not m:
            return None
        out = set(re.findall(r'from_static\("([^"]+)"\)', m.group(1)))
        out |= {c.lower().replace("_", "-") for c in re.findall(r"header::([A-Z][A-Z_]+)", m.group(1))}
        return out

    return names("allow_headers"), names("expose_headers")


def check_cors(t, src):
    """API Gateway answers CORS itself and ignores the app's headers: both must agree."""
    problems = []
    allowed, exposed = app_cors_headers(src)
    if allowed is None or exposed is None:
        return [f"{src}: no allow_headers([...]) / expose_headers([...]) found"]
    for name, r in t["Resources"].items():
        cors = r.get("Properties", {}).get("CorsConfiguration") if r["Type"] == "AWS::ApiGatewayV2::Api" else None
        if cors is None:
            continue
        for key, want in (("AllowHeaders", allowed), ("ExposeHeaders", exposed)):
            have = {h.lower() for h in cors.get(key, [])}
            if have != want:
                problems.append(f"{name}: CorsConfiguration.{key} {sorted(have)} != the app's {sorted(want)} ({src})")
    return problems


def default(t, value):
    """A literal, or a !Ref'd parameter's default, as a number."""
    if isinstance(value, dict) and "Ref" in value:
        return float(t["Parameters"][value["Ref"]]["Default"])
    return float(value)


def check_limits(t):
    """What one anonymous caller can cost, bounded: reserved concurrency for both functions (the
    worker's covering both event sources), the costly routes throttled tighter, access logs,
    ListBucket only under reportq's prefixes, alarms that notify, the sandbox required."""
    problems = []
    res = t["Resources"]
    for name, r in res.items():
        props = r.get("Properties", {})
        if r["Type"] == "AWS::Serverless::Function":
            if "ReservedConcurrentExecutions" not in props:
                problems.append(f"{name}: no ReservedConcurrentExecutions")
                continue
            sqs = [e["Properties"] for e in props.get("Events", {}).values() if e["Type"] == "SQS"]
            need = sum(default(t, e.get("ScalingConfig", {}).get("MaximumConcurrency", 1000)) for e in sqs)
            if sqs and default(t, props["ReservedConcurrentExecutions"]) < need:
                problems.append(f"{name}: reserved concurrency below its event sources' MaximumConcurrency sum ({need:g})")
        if r["Type"] == "AWS::ApiGatewayV2::Stage":
            base = default(t, props.get("DefaultRouteSettings", {}).get("ThrottlingRateLimit", 10000))
            routes = props.get("RouteSettings", {})
            for key in ("POST /v1/reports/batch", "POST /api/report/pdf", "ANY /api/{proxy+}"):
                if key not in routes:
                    problems.append(f"{name}: no RouteSettings throttle for {key}")
                elif default(t, routes[key].get("ThrottlingRateLimit", base)) >= base:
                    problems.append(f"{name}: {key} is not throttled tighter than the default route")
            if not props.get("AccessLogSettings", {}).get("DestinationArn"):
                problems.append(f"{name}: no access log (AccessLogSettings)")
        if r["Type"] == "AWS::CloudWatch::Alarm" and not props.get("AlarmActions"):
            problems.append(f"{name}: notifies no one (no AlarmActions)")
    for where, st in statements(t):
        if st.get("Effect") == "Allow" and "s3:ListBucket" in as_list(st.get("Action", [])):
            cond = st.get("Condition", {})
            if not any("s3:prefix" in c for c in cond.values()):
                problems.append(f"{where}: s3:ListBucket without an s3:prefix condition")
            if any(op.endswith("IfExists") and "s3:prefix" in c for op, c in cond.items()):
                problems.append(f"{where}: s3:ListBucket's prefix condition is ...IfExists: a listing without a prefix gets through")
    env = t.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    expiry = env.get("REPORTQ_JOB_EXPIRY_SECS")
    for name, r in res.items():
        if r["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in r.get("Properties", {}):
            retention = r["Properties"].get("MessageRetentionPeriod", 345600)
            if expiry is None or float(expiry) != float(retention):
                problems.append(f"{name}: MessageRetentionPeriod {retention} != REPORTQ_JOB_EXPIRY_SECS {expiry} (jobs would expire while their message lives, or linger after it)")
    schedules = [e for r in res.values() if r["Type"] == "AWS::Serverless::Function"
                 for e in r["Properties"].get("Events", {}).values() if e["Type"] == "Schedule"]
    if not schedules:
        problems.append("no Schedule event runs the sweep")
    problems += check_access(t)
    problems += check_waiting_routes(t)
    for name, r in res.items():
        if r["Type"] == "AWS::Serverless::Function" and any(e["Type"] == "SQS" and "Job" in json.dumps(e["Properties"].get("Queue")) for e in r["Properties"].get("Events", {}).values()):
            if "REPORTQ_WEBHOOK_SECRETS" in json.dumps(r["Properties"].get("Environment", {})) or "REPORTQ_WEBHOOK_SECRETS" in json.dumps(env):
                problems.append(f"{name}: the worker holds the webhook signing secret, which it never uses (renders run beside it)")
    problems += check_signing_secret(t)
    problems += check_report_signing(t)
    if str(env.get("REPORTQ_REQUIRE_SANDBOX")) != "io":
        problems.append("Globals: REPORTQ_REQUIRE_SANDBOX is not \"io\" (Lambda refuses prctl: a required seccomp or Landlock layer refuses every render, and the old 0/1 values are a start-up error)")
    return problems


def check_signing_secret(t):
    """The webhook signing secret stays in Secrets Manager: no function's environment holds it
    (a dynamic reference would resolve into the configuration, readable by anyone with
    lambda:GetFunctionConfiguration); the webhook function gets the secret's ARN, and its role
    alone may read the secret, that one only."""
    problems = []
    res = t["Resources"]
    secrets = [n for n, r in res.items() if r["Type"] == "AWS::SecretsManager::Secret"]
    fns = {n: r for n, r in res.items() if r["Type"] == "AWS::Serverless::Function"}
    globals_env = t.get("Globals", {}).get("Function", {}).get("Environment", {})
    for name, env in [("Globals", globals_env)] + [(n, r["Properties"].get("Environment", {})) for n, r in fns.items()]:
        text = json.dumps(env)
        if "resolve:secretsmanager" in text or "REPORTQ_WEBHOOK_SECRETS\"" in text:
            problems.append(f"{name}: a webhook signing secret in the environment (give REPORTQ_WEBHOOK_SECRETS_ARN; the function reads the value)")
    hooks = [n for n, r in fns.items() if r["Properties"].get("Environment", {}).get("Variables", {}).get("REPORTQ_ROLE") == "webhooks"]
    for n in hooks:
        arn = fns[n]["Properties"]["Environment"]["Variables"].get("REPORTQ_WEBHOOK_SECRETS_ARN")
        if arn not in [{"Ref": s} for s in secrets]:
            problems.append(f"{n}: REPORTQ_WEBHOOK_SECRETS_ARN is not the signing secret's Ref ({arn!r})")
    hook_roles = [fns[n]["Properties"].get("Role", {}).get("Fn::GetAtt", [None])[0] for n in hooks]
    for where, st in statements(t):
        actions = [a for a in as_list(st.get("Action", [])) if a.lower().startswith("secretsmanager:") or a == "*"]
        if st.get("Effect") != "Allow" or not actions:
            continue
        if where.split(".")[0] not in hook_roles:
            problems.append(f"{where}: may read secrets, and only the webhook function's role signs")
        elif actions != ["secretsmanager:GetSecretValue"] or as_list(st.get("Resource")) not in [[{"Ref": s}] for s in secrets]:
            problems.append(f"{where}: more than secretsmanager:GetSecretValue on the signing secret ({actions}, {st.get('Resource')!r})")
    return problems


def check_report_signing(t):
    """Reports are signed with the template's KMS key (RSA, SIGN_VERIFY, kept when the stack
    goes): the worker is given it, and only the worker's role may use it, to sign and read its
    public key, nothing else."""
    problems = []
    res = t["Resources"]
    keys = [n for n, r in res.items() if r["Type"] == "AWS::KMS::Key" and r["Properties"].get("KeyUsage") == "SIGN_VERIFY"]
    if len(keys) != 1:
        return [f"one KMS signing key expected, found {keys}"]
    key = keys[0]
    props = res[key]["Properties"]
    if not str(props.get("KeySpec", "")).startswith("RSA_"):
        problems.append(f"{key}: KeySpec {props.get('KeySpec')} (reportq signs with RSA: deterministic signatures)")
    if res[key].get("DeletionPolicy") != "Retain":
        problems.append(f"{key}: not kept when the stack goes (DeletionPolicy Retain): the published certificate is made from it")
    workers = [n for n, r in res.items() if r["Type"] == "AWS::Serverless::Function" and any(e["Type"] == "SQS" and "Job" in json.dumps(e["Properties"].get("Queue")) for e in r["Properties"].get("Events", {}).values())]
    for w in workers:
        v = res[w]["Properties"].get("Environment", {}).get("Variables", {}).get("REPORTQ_SIGNING_KEY")
        if v != {"Fn::Sub": "kms:${" + key + ".Arn}"}:
            problems.append(f"{w}: REPORTQ_SIGNING_KEY is not the signing key ({v!r})")
    worker_roles = [res[w]["Properties"].get("Role", {}).get("Fn::GetAtt", [None])[0] for w in workers]
    for where, st in statements(t):
        actions = [a for a in as_list(st.get("Action", [])) if a.lower().startswith("kms:")]
        if st.get("Effect") != "Allow" or not actions:
            continue
        if where.split(".")[0] not in worker_roles:
            problems.append(f"{where}: may use KMS keys, and only the worker signs")
        elif sorted(actions) != ["kms:GetPublicKey", "kms:Sign"] or as_list(st.get("Resource")) != [{"Fn::GetAtt": [key, "Arn"]}]:
            problems.append(f"{where}: more than kms:Sign and kms:GetPublicKey on the signing key ({actions}, {st.get('Resource')!r})")
    return problems


def check_waiting_routes(t):
    """A route that waits (REPORTQ_PDF_WAIT_SECS > 0 on its function) cannot hold the API: its
    function serves waiting routes only, and each route's rate x wait + burst fits that
    function's reserved concurrency. The Globals' wait is 0, so no other function waits."""
    problems = []
    res = t["Resources"]
    globals_env = t.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    if default(t, globals_env.get("REPORTQ_PDF_WAIT_SECS", 25)) != 0:
        problems.append("Globals: REPORTQ_PDF_WAIT_SECS is not 0: every function would hold its instances waiting for PDFs")
    integration_fn = {n: r["Properties"]["IntegrationUri"]["Fn::GetAtt"][0] for n, r in res.items()
                      if r["Type"] == "AWS::ApiGatewayV2::Integration"}
    routes_of = {}
    for r in res.values():
        if r["Type"] == "AWS::ApiGatewayV2::Route":
            target = r["Properties"]["Target"]["Fn::Sub"].removeprefix("integrations/${").removesuffix("}")
            routes_of.setdefault(integration_fn.get(target), []).append(r["Properties"]["RouteKey"])
    stage = next((r["Properties"] for r in res.values() if r["Type"] == "AWS::ApiGatewayV2::Stage"), {})
    settings = stage.get("RouteSettings", {})
    for name, r in res.items():
        if r["Type"] != "AWS::Serverless::Function":
            continue
        wait = default(t, r["Properties"].get("Environment", {}).get("Variables", {}).get("REPORTQ_PDF_WAIT_SECS", 0))
        if not wait:
            continue
        reserved = default(t, r["Properties"].get("ReservedConcurrentExecutions", 0))
        for key in routes_of.get(name, []):
            if key not in settings:
                problems.append(f"{name}: waits {wait:g} s but its route {key} has no throttle")
                continue
            rate = default(t, settings[key].get("ThrottlingRateLimit", 10000))
            burst = default(t, settings[key].get("ThrottlingBurstLimit", 10000))
            if rate * wait + burst > reserved:
                problems.append(f"{name}: {key} at {rate:g}/s waiting {wait:g} s (+ burst {burst:g}) needs {rate * wait + burst:g} instances; {reserved:g} reserved")
            if not key.endswith("/api/report/pdf"):
                problems.append(f"{name}: a waiting function also serves {key}")
        if not routes_of.get(name):
            problems.append(f"{name}: waits, but no route reaches it")
    return problems


def check_access(t):
    """Who can call what: authentication on by default; with AuthMode jwt, every /v1 route but
    the templates listing behind the JWT authorizer and DiAGRAM's routes open; no lifecycle
    rule that would delete the API keys; every dead-letter queue watched by an alarm."""
    problems = []
    res = t["Resources"]
    env = t.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    auth = env.get("REPORTQ_AUTH")
    mode = default_str(t, auth) if auth is not None else None
    if mode not in ("keys", "jwt"):
        problems.append(f"Globals: REPORTQ_AUTH defaults to {mode!r}: the /v1 routes would be open to anyone")
    if env.get("REPORTQ_ALLOW_ANONYMOUS_V1") != {"Ref": "AllowAnonymousV1"} or default_str(t, {"Ref": "AllowAnonymousV1"}) != "false":
        problems.append("Globals: REPORTQ_ALLOW_ANONYMOUS_V1 is not the AllowAnonymousV1 parameter, false by default")
    rules = json.dumps(t.get("Rules", {}))
    if '"AllowAnonymousV1"' not in rules:
        problems.append("Rules: nothing stops AuthMode off without AllowAnonymousV1=true")
    jwt = {"Fn::If": ["UseJwt", "JWT", "NONE"]}
    routes = {r["Properties"]["RouteKey"]: (n, r["Properties"]) for n, r in res.items() if r["Type"] == "AWS::ApiGatewayV2::Route"}
    if not routes:
        problems.append("no AWS::ApiGatewayV2::Route")
    for key, (name, props) in routes.items():
        guarded = props.get("AuthorizationType") == jwt and props.get("AuthorizerId") == {"Fn::If": ["UseJwt", {"Ref": "OidcAuthorizer"}, {"Ref": "AWS::NoValue"}]}
        is_v1 = " /v1/" in key and key != "GET /v1/templates"
        if is_v1 and not guarded:
            problems.append(f"{name} ({key}): a /v1 route without the JWT authorizer when AuthMode is jwt")
        if not is_v1 and props.get("AuthorizationType", "NONE") != "NONE":
            problems.append(f"{name} ({key}): an open route (DiAGRAM's, health, docs) behind an authorizer")
    # JWT callers: scopes matched under the template's prefix, and a quota per subject; both
    # must reach the function that reads the claims (the API's).
    api = next((r for r in res.values() if r["Type"] == "AWS::Serverless::Function"
                and "API" in r["Properties"].get("Description", "")), None)
    api_env = (api or {}).get("Properties", {}).get("Environment", {}).get("Variables", {})
    for var, param in (("REPORTQ_JWT_SCOPE_PREFIX", "JwtScopePrefix"), ("REPORTQ_JWT_QUOTA_PER_DAY", "JwtQuotaPerDay")):
        if api_env.get(var) != {"Ref": param} or param not in t.get("Parameters", {}):
            problems.append(f"the API function does not take {var} from the {param} parameter: JWT callers would get bare-name scopes or no quota")
    if "ANY /v1/{proxy+}" not in routes:
        problems.append("no ANY /v1/{proxy+} route (the /v1 routes would fall to the open $default route)")
    for name, r in res.items():
        if r["Type"] != "AWS::S3::Bucket":
            continue
        for rule in r["Properties"].get("LifecycleConfiguration", {}).get("Rules", []):
            prefix = rule.get("Prefix", rule.get("Filter", {}).get("Prefix", ""))
            if rule.get("Status") == "Enabled" and "apikeys/".startswith(prefix):
                problems.append(f"{name}: lifecycle rule {rule.get('Id')} would delete the API keys (apikeys/)")
    watched = {json.dumps(d["Value"]) for r in res.values() if r["Type"] == "AWS::CloudWatch::Alarm"
               for d in r["Properties"].get("Dimensions", []) if d.get("Name") == "QueueName"}
    for name, r in res.items():
        target = r.get("Properties", {}).get("RedrivePolicy", {}).get("deadLetterTargetArn") if r["Type"] == "AWS::SQS::Queue" else None
        if target:
            dlq = target["Fn::GetAtt"][0]
            if json.dumps({"Fn::GetAtt": [dlq, "QueueName"]}) not in watched:
                problems.append(f"{dlq}: a dead-letter queue no alarm watches ({name} redrives to it)")
    return problems


def default_str(t, value):
    if isinstance(value, dict) and "Ref" in value:
        return str(t["Parameters"][value["Ref"]].get("Default"))
    return str(value)


def evaluate(t, value):
    """A property's value with !Ref (parameter defaults), !Join and !Split worked out."""
    if isinstance(value, dict) and "Ref" in value:
        p = t["Parameters"][value["Ref"]]
        d = p.get("Default", "")
        return [x.strip() for x in str(d).split(",")] if p["Type"] == "CommaDelimitedList" else d
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, items = value["Fn::Join"]
        items = evaluate(t, items)
        return sep.join(x if isinstance(x, str) else sep.join(x) for x in (evaluate(t, i) for i in items))
    if isinstance(value, dict) and "Fn::Split" in value:
        sep, text = value["Fn::Split"]
        return evaluate(t, text).split(sep)
    if isinstance(value, list):
        return [evaluate(t, v) for v in value]
    return value


def init_cors_rule(init_script, origins):
    """bucket_cors_rule(origins) from the LocalStack init script, without running the script
    (it needs boto3): the function alone is compiled from its source."""
    import ast
    tree = ast.parse(open(init_script, encoding="utf-8").read())
    fn = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "bucket_cors_rule"]
    if not fn:
        return None
    scope = {}
    exec(compile(ast.Module(body=fn, type_ignores=[]), init_script, "exec"), scope)
    return scope["bucket_cors_rule"](origins)


def check_bucket_cors(t, init_script):
    """The bucket's CORS rule is the LocalStack init script's (one definition, two places)."""
    problems = []
    origins = evaluate(t, {"Ref": "CorsOrigins"})
    want = init_cors_rule(init_script, origins)
    if want is None:
        return [f"{init_script}: no bucket_cors_rule()"]
    for name, r in t["Resources"].items():
        if r["Type"] != "AWS::S3::Bucket":
            continue
        rules = r["Properties"].get("CorsConfiguration", {}).get("CorsRules", [])
        if len(rules) != 1:
            problems.append(f"{name}: {len(rules)} CORS rules, want the one of bucket_cors_rule() ({init_script})")
            continue
        # CloudFormation's names for two of S3's (boto3's) fields.
        names = {"MaxAge": "MaxAgeSeconds", "ExposedHeaders": "ExposeHeaders"}
        have = {names.get(k, k): evaluate(t, v) for k, v in rules[0].items()}
        if have != want:
            problems.append(f"{name}: CORS rule {have} != bucket_cors_rule() {want} ({init_script})")
    return problems


def self_test(t):
    """Each mutation must make check() complain: the checks can fail."""
    def worker(tt):
        return next(r for r in tt["Resources"].values() if r["Type"] == "AWS::Serverless::Function"
                    and any(e["Type"] == "SQS" for e in r["Properties"].get("Events", {}).values()))

    def sqs_event(tt):
        return next(e for e in worker(tt)["Properties"]["Events"].values() if e["Type"] == "SQS")

    def first_allow(tt):
        return next(st for _, st in statements(tt) if st.get("Effect") == "Allow")

    def short_visibility(tt):
        for m in tt["Mappings"].values():
            for row in m.values():
                if "VisibilitySecs" in row:
                    row["VisibilitySecs"] = 60

    def long_deadline(tt):
        for m in tt["Mappings"].values():
            for row in m.values():
                if "JobDeadlineSecs" in row:
                    row["JobDeadlineSecs"] = 900

    mutations = {
        "visibility below 6x timeout": short_visibility,
        "job deadline past the timeout": long_deadline,
        "no ReportBatchItemFailures": lambda tt: sqs_event(tt)["Properties"].pop("FunctionResponseTypes"),
        "wildcard action": lambda tt: first_allow(tt).update(Action="s3:*"),
        "resource *": lambda tt: first_allow(tt).update(Resource="*"),
        "generated role": lambda tt: worker(tt)["Properties"].pop("Role"),
        "public bucket": lambda tt: next(r for r in tt["Resources"].values() if r["Type"] == "AWS::S3::Bucket")["Properties"].pop("PublicAccessBlockConfiguration"),
    }
    failed = []
    def http_api(tt):
        return next(r for r in tt["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Stage")["Properties"]

    def route(tt, key):
        return next(r for r in tt["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Route" and r["Properties"]["RouteKey"] == key)["Properties"]

    def hook_env(tt):
        return next(r for r in tt["Resources"].values() if r["Type"] == "AWS::Serverless::Function" and r["Properties"].get("Environment", {}).get("Variables", {}).get("REPORTQ_ROLE") == "webhooks")["Properties"]["Environment"]["Variables"]

    def list_statement(tt):
        return next(st for _, st in statements(tt) if "s3:ListBucket" in as_list(st.get("Action", [])))

    limits = {
        "a function without reserved concurrency": lambda tt: next(r for r in tt["Resources"].values() if r["Type"] == "AWS::Serverless::Function")["Properties"].pop("ReservedConcurrentExecutions"),
        "the batch route not throttled": lambda tt: http_api(tt)["RouteSettings"].pop("POST /v1/reports/batch"),
        "the PDF route throttled like the rest": lambda tt: http_api(tt)["RouteSettings"]["POST /api/report/pdf"].update(ThrottlingRateLimit=100000),
        "the PDF wait past its reserved instances": lambda tt: tt["Parameters"]["PdfRateLimit"].update(Default=5),
        "the API function waiting for PDFs": lambda tt: tt["Globals"]["Function"]["Environment"]["Variables"].update(REPORTQ_PDF_WAIT_SECS="25"),
        "the PDF route on the API's function": lambda tt: route(tt, "POST /api/report/pdf").update(Target={"Fn::Sub": "integrations/${ApiIntegration}"}),
        "no access log": lambda tt: http_api(tt).pop("AccessLogSettings"),
        "ListBucket without a prefix condition": lambda tt: list_statement(tt).pop("Condition"),
        "ListBucket's prefix only if one is given": lambda tt: list_statement(tt).update(Condition={"StringLikeIfExists": list_statement(tt)["Condition"]["StringLike"]}),
        "an alarm notifying no one": lambda tt: next(r for r in tt["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm")["Properties"].pop("AlarmActions"),
        "the signing secret given to the worker": lambda tt: worker(tt)["Properties"]["Environment"]["Variables"].update(REPORTQ_WEBHOOK_SECRETS="x"),
        "the signing secret's value in the webhook function's environment": lambda tt: hook_env(tt).update(REPORTQ_WEBHOOK_SECRETS={"Fn::Sub": "{{resolve:secretsmanager:${WebhookSigningSecret}}}"}),
        "the webhook function without the secret's ARN": lambda tt: hook_env(tt).pop("REPORTQ_WEBHOOK_SECRETS_ARN"),
        "the API's role reading the secret": lambda tt: next(st for w, st in statements(tt) if ".reportq-api[" in w).update(Action="secretsmanager:GetSecretValue", Resource={"Ref": "WebhookSigningSecret"}),
        "the worker signing with any key": lambda tt: next(st for _, st in statements(tt) if "kms:Sign" in as_list(st.get("Action", []))).update(Resource="*"),
        "the worker decrypting with the key": lambda tt: next(st for _, st in statements(tt) if "kms:Sign" in as_list(st.get("Action", []))).update(Action=["kms:Sign", "kms:GetPublicKey", "kms:Decrypt"]),
        "the API's role signing": lambda tt: next(st for w, st in statements(tt) if ".reportq-api[" in w).update(Action="kms:Sign", Resource={"Fn::GetAtt": ["ReportSigningKey", "Arn"]}),
        "the worker without the signing key": lambda tt: worker(tt)["Properties"]["Environment"]["Variables"].pop("REPORTQ_SIGNING_KEY"),
        "the signing key deleted with the stack": lambda tt: tt["Resources"]["ReportSigningKey"].pop("DeletionPolicy"),
        "an elliptic-curve signing key": lambda tt: tt["Resources"]["ReportSigningKey"]["Properties"].update(KeySpec="ECC_NIST_P256"),
        "the webhook role reading every secret": lambda tt: next(st for _, st in statements(tt) if "secretsmanager:GetSecretValue" in as_list(st.get("Action", []))).update(Resource="*"),
        "a kernel layer required on Lambda": lambda tt: tt["Globals"]["Function"]["Environment"]["Variables"].update(REPORTQ_REQUIRE_SANDBOX="io+landlock"),
        "the old on/off sandbox value": lambda tt: tt["Globals"]["Function"]["Environment"]["Variables"].update(REPORTQ_REQUIRE_SANDBOX="1"),
        "worker concurrency below its event sources": lambda tt: tt["Parameters"]["WorkerReservedConcurrency"].update(Default=3),
        "job expiry unlike the queue's retention": lambda tt: tt["Globals"]["Function"]["Environment"]["Variables"].update(REPORTQ_JOB_EXPIRY_SECS="86400"),
        "authentication off by default": lambda tt: tt["Parameters"]["AuthMode"].update(Default="off"),
        "an open API without saying so": lambda tt: tt["Rules"].pop("AnonymousV1OnPurpose"),
        "a /v1 route without the JWT authorizer": lambda tt: route(tt, "POST /v1/reports/batch").pop("AuthorizationType"),
        "JWT scopes without the template's prefix": lambda tt: next(r for r in tt["Resources"].values() if r["Type"] == "AWS::Serverless::Function" and "API" in r["Properties"].get("Description", ""))["Properties"]["Environment"]["Variables"].pop("REPORTQ_JWT_SCOPE_PREFIX"),
        "DiAGRAM's routes behind the authorizer": lambda tt: route(tt, "ANY /api/{proxy+}").update(AuthorizationType={"Fn::If": ["UseJwt", "JWT", "NONE"]}),
        "a lifecycle rule deleting the API keys": lambda tt: next(r for r in tt["Resources"].values() if r["Type"] == "AWS::S3::Bucket")["Properties"]["LifecycleConfiguration"]["Rules"].append({"Id": "all", "Status": "Enabled", "ExpirationInDays": 7}),
        "a dead-letter queue no alarm watches": lambda tt: tt["Resources"].pop("WebhookDeadLetterAlarm"),
        "DiAGRAM's open routes not throttled": lambda tt: http_api(tt)["RouteSettings"].pop("ANY /api/{proxy+}"),
        "no sweep schedule": lambda tt: [r["Properties"].get("Events", {}).pop("Sweep", None) for r in tt["Resources"].values() if r["Type"] == "AWS::Serverless::Function"],
    }
    for what, mutate in limits.items():
        broken = copy.deepcopy(t)
        mutate(broken)
        if not check_limits(broken):
            failed.append(what)
    app_src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "api", "mod.rs")
    broken = copy.deepcopy(t)
    for r in broken["Resources"].values():
        if r["Type"] == "AWS::ApiGatewayV2::Api":
            r["Properties"]["CorsConfiguration"]["AllowHeaders"] = ["content-type"]
    if not check_cors(broken, app_src):
        failed.append("API Gateway CORS headers other than the app's")
    broken = copy.deepcopy(t)
    for r in broken["Resources"].values():
        if r["Type"] == "AWS::S3::Bucket":
            r["Properties"]["CorsConfiguration"]["CorsRules"][0]["AllowedOrigins"] = {"Ref": "CorsOrigins"}
    if not check_bucket_cors(broken, INIT_SCRIPT):
        failed.append("a bucket CORS rule without the null origin")
    metrics_src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "metrics.rs")
    for what, kind in (("an alarm on a metric the code does not send", "AWS::CloudWatch::Alarm"),
                       ("a dashboard graph of a metric the code does not send", "AWS::CloudWatch::Dashboard")):
        broken = copy.deepcopy(t)
        for r in broken["Resources"].values():
            if r["Type"] == kind and kind.endswith("Alarm") and r["Properties"].get("Namespace") == "reportq":
                r["Properties"]["MetricName"] = "RenderMillis"
            if r["Type"] == kind and kind.endswith("Dashboard"):
                b = r["Properties"]["DashboardBody"]
                r["Properties"]["DashboardBody"] = {"Fn::Sub": b["Fn::Sub"].replace('"JobsSucceeded"', '"JobsDone"')}
        if not check_metrics(broken, metrics_src):
            failed.append(what)
    for what, mutate in mutations.items():
        broken = copy.deepcopy(t)
        mutate(broken)
        if not check(broken):
            failed.append(what)
    return failed


INIT_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "localstack", "init", "ready.d", "reportq-init.py")


def main(argv):
    selftest = "--self-test" in argv
    paths = [a for a in argv[1:] if a != "--self-test"]
    if len(paths) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    t = load(paths[0])
    problems = check(t)
    app_src = os.path.join(os.path.dirname(os.path.abspath(paths[0])), "..", "src", "api", "mod.rs")
    problems += check_cors(t, app_src)
    problems += check_bucket_cors(t, INIT_SCRIPT)
    problems += check_limits(t)
    problems += check_metrics(t, os.path.join(os.path.dirname(os.path.abspath(paths[0])), "..", "src", "metrics.rs"))
    for p in problems:
        print(f"check_template: {paths[0]}: {p}", file=sys.stderr)
    if problems:
        return 1
    if selftest:
        missed = self_test(t)
        for m in missed:
            print(f"check_template: self-test: a template with {m} passed", file=sys.stderr)
        if missed:
            return 1
    print(f"check_template: {paths[0]}: queue visibility >= 6x worker timeout, job deadline < timeout, CORS headers as the app's, partial batch "
          "failures, bucket CORS as the LocalStack init script's, alarm and dashboard metrics the code's, reserved concurrency, "
          "route throttles, the PDF wait in its own function (rate x wait + burst <= reserved), JWT scope prefix and quota passed, access log, ListBucket prefixes, auth on by default, JWT authorizer on /v1 only, API keys never expired, every DLQ alarmed, notifying alarms, signing secret by ARN and read by the webhook role alone, reports signed with the RSA KMS key only the worker may use, sandbox required, expiry = retention, sweep scheduled, no wildcard Allow, explicit roles, private expiring bucket: ok"
          + (" (self-test ok)" if selftest else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
