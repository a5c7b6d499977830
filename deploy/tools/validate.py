"""Python half of deploy/validate: schemas and cross-checks of the deploy files.

Run by deploy/validate inside its venv (kubernetes-validate, jsonschema, PyYAML,
promql-parser); not meant to be run by hand, though it can be:

    python deploy/tools/validate.py --root . --rendered overlays/example=out.yaml ...

Prints one line per check; exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import kubernetes_validate
import promql_parser
import yaml

COUNTS = {"passed": 0, "failed": 0, "skipped": 0}


def ok(msg: str) -> None:
    COUNTS["passed"] += 1
    print(f"  ok    {msg}")


def fail(msg: str) -> None:
    COUNTS["failed"] += 1
    print(f"  FAIL  {msg}")


def skip(msg: str) -> None:
    COUNTS["skipped"] += 1
    print(f"  SKIP  {msg}")


def section(title: str) -> None:
    print(f"validate: {title}")


def check(cond: bool, good: str, bad: str | None = None) -> bool:
    if cond:
        ok(good)
    else:
        fail(bad or good)
    return cond


# ---------------------------------------------------------------------------------
# Settings, durations
# ---------------------------------------------------------------------------------

# Fixed bound in src/server.rs: after the drain, the process waits this long for the
# reaper task (which releases the lease) before it exits.
REAPER_STOP_BOUND_S = 5.0
# Least headroom between the worst graceful exit and SIGKILL.
MIN_HEADROOM_S = 5.0

_UNITS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0,
    "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0,
}


def parse_duration(text: str) -> float:
    """Seconds of a humantime-style duration (`15s`, `500ms`, `1h30m`)."""
    text = str(text).strip()
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-zµ]+)", text)
    if not parts or re.sub(r"(\d+(?:\.\d+)?)\s*([a-zµ]+)", "", text).strip():
        raise ValueError(f"`{text}` is not a duration like 15s, 500ms or 10m")
    total = 0.0
    for number, unit in parts:
        if unit not in _UNITS:
            raise ValueError(f"`{text}`: unknown unit `{unit}`")
        total += float(number) * _UNITS[unit]
    if total <= 0:
        raise ValueError(f"`{text}`: duration must be greater than zero")
    return total


def known_settings(root: Path) -> set[str] | None:
    """Every LIVEROOM_* variable `liveroom serve` reads, from src/config.rs."""
    config = root / "src" / "config.rs"
    if not config.is_file():
        return None
    names = set(re.findall(r'env\s*=\s*"(LIVEROOM_[A-Z0-9_]+)"', config.read_text()))
    return names or None


DEFAULTS = {
    "LIVEROOM_LISTEN": "0.0.0.0:8080",
    "LIVEROOM_KEY_PREFIX": "lr",
    "LIVEROOM_TIMEZONE": "+08:00",
    "LIVEROOM_MEMBER_TIMEOUT": "15s",
    "LIVEROOM_ANCHOR_CLOSE_AFTER": "10m",
    "LIVEROOM_PUBLISH_TTL": "24h",
    "LIVEROOM_LEASE_TTL": "10s",
    "LIVEROOM_REAPER_INTERVAL": "1s",
    "LIVEROOM_SHUTDOWN_TIMEOUT": "10s",
    "LIVEROOM_REDIS_TIMEOUT": "2s",
    "LIVEROOM_LOG_FORMAT": "pretty",
}
DURATIONS = {
    "LIVEROOM_MEMBER_TIMEOUT", "LIVEROOM_ANCHOR_CLOSE_AFTER", "LIVEROOM_PUBLISH_TTL",
    "LIVEROOM_LEASE_TTL", "LIVEROOM_REAPER_INTERVAL", "LIVEROOM_SHUTDOWN_TIMEOUT",
    "LIVEROOM_REDIS_TIMEOUT",
}


def listen_port(listen: str) -> int:
    host, _, port = listen.rpartition(":")
    ipaddress.ip_address(host.strip("[]"))
    return int(port)


def check_settings(where: str, env: dict[str, str], known: set[str] | None,
                   dynamic: Iterable[str] = ()) -> dict[str, str]:
    """Checks names and values of liveroom settings; returns them with defaults filled."""
    names = set(env) | set(dynamic)
    if known is None:
        skip(f"{where}: src/config.rs not found, setting names not checked")
    else:
        unknown = sorted(n for n in names if n.startswith("LIVEROOM_") and n not in known)
        check(not unknown, f"{where}: every LIVEROOM_* name is a setting of `liveroom serve` ({len(names)} set)",
              f"{where}: unknown settings (not in src/config.rs): {', '.join(unknown)}")
        other = sorted(n for n in names if not n.startswith("LIVEROOM_") and n != "RUST_LOG")
        check(not other, f"{where}: no stray variables", f"{where}: variables liveroom does not read: {other}")
    full = dict(DEFAULTS)
    full.update({k: str(v) for k, v in env.items()})
    problems = []
    for name in sorted(DURATIONS & set(full)):
        try:
            parse_duration(full[name])
        except ValueError as e:
            problems.append(f"{name}: {e}")
    try:
        listen_port(full["LIVEROOM_LISTEN"])
    except ValueError:
        problems.append(f"LIVEROOM_LISTEN `{full['LIVEROOM_LISTEN']}` is not an ip:port")
    if full["LIVEROOM_LOG_FORMAT"] not in ("json", "pretty"):
        problems.append("LIVEROOM_LOG_FORMAT must be json or pretty")
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,32}", full["LIVEROOM_KEY_PREFIX"]):
        problems.append("LIVEROOM_KEY_PREFIX must be 1-32 chars of [A-Za-z0-9_.:-]")
    if not re.fullmatch(r"[+-]\d{1,2}:\d{2}|(?i:utc)|Z", full["LIVEROOM_TIMEZONE"]):
        problems.append("LIVEROOM_TIMEZONE must be an offset like +08:00")
    url = full.get("LIVEROOM_REDIS_URL")
    if url is not None and not re.match(r"^rediss?://", url):
        problems.append("LIVEROOM_REDIS_URL must start with redis:// or rediss://")
    if not problems:
        if parse_duration(full["LIVEROOM_REAPER_INTERVAL"]) >= parse_duration(full["LIVEROOM_LEASE_TTL"]):
            problems.append("LIVEROOM_REAPER_INTERVAL must be shorter than LIVEROOM_LEASE_TTL")
        if parse_duration(full["LIVEROOM_MEMBER_TIMEOUT"]) < 0.1:
            problems.append("LIVEROOM_MEMBER_TIMEOUT must be at least 100ms")
    check(not problems, f"{where}: setting values parse (durations, listen address, reaper interval < lease TTL)",
          f"{where}: bad settings: {'; '.join(problems)}")
    return full


# ---------------------------------------------------------------------------------
# Kubernetes
# ---------------------------------------------------------------------------------

DURATION_RE = r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
LABEL_SELECTOR = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "matchLabels": LABELS,
        "matchExpressions": {"type": "array", "items": {
            "type": "object", "required": ["key", "operator"], "additionalProperties": False,
            "properties": {"key": {"type": "string"},
                           "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                           "values": {"type": "array", "items": {"type": "string"}}}}},
    },
}
RELABEL = {"type": "array", "items": {
    "type": "object", "additionalProperties": False,
    "properties": {
        "sourceLabels": {"type": "array", "items": {"type": "string"}},
        "separator": {"type": "string"}, "targetLabel": {"type": "string"},
        "regex": {"type": "string"}, "modulus": {"type": "integer"},
        "replacement": {"type": "string"},
        "action": {"enum": ["replace", "Replace", "keep", "Keep", "drop", "Drop", "hashmod", "HashMod",
                            "labelmap", "LabelMap", "labeldrop", "LabelDrop", "labelkeep", "LabelKeep",
                            "lowercase", "Lowercase", "uppercase", "Uppercase", "keepequal", "KeepEqual",
                            "dropequal", "DropEqual"]},
    }}}
# The part of the monitoring.coreos.com/v1 ServiceMonitor CRD schema (prometheus-operator)
# that a liveroom ServiceMonitor may use; unknown fields are rejected, like the API server does.
SERVICE_MONITOR_SCHEMA = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"], "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
                     "maxLength": 253},
            "namespace": {"type": "string"}, "labels": LABELS, "annotations": LABELS}},
        "spec": {"type": "object", "required": ["selector", "endpoints"], "additionalProperties": False, "properties": {
            "jobLabel": {"type": "string"},
            "targetLabels": {"type": "array", "items": {"type": "string"}},
            "podTargetLabels": {"type": "array", "items": {"type": "string"}},
            "sampleLimit": {"type": "integer", "minimum": 0},
            "targetLimit": {"type": "integer", "minimum": 0},
            "selector": LABEL_SELECTOR,
            "namespaceSelector": {"type": "object", "additionalProperties": False, "properties": {
                "any": {"type": "boolean"}, "matchNames": {"type": "array", "items": {"type": "string"}}}},
            "endpoints": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False,
                "properties": {
                    "port": {"type": "string"},
                    "targetPort": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                    "path": {"type": "string", "pattern": "^/"},
                    "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
                    "params": {"type": "object"},
                    "interval": {"type": "string", "pattern": DURATION_RE},
                    "scrapeTimeout": {"type": "string", "pattern": DURATION_RE},
                    "honorLabels": {"type": "boolean"}, "honorTimestamps": {"type": "boolean"},
                    "trackTimestampsStaleness": {"type": "boolean"},
                    "followRedirects": {"type": "boolean"}, "enableHttp2": {"type": "boolean"},
                    "filterRunning": {"type": "boolean"},
                    "relabelings": RELABEL, "metricRelabelings": RELABEL,
                    "tlsConfig": {"type": "object"}, "authorization": {"type": "object"},
                    "basicAuth": {"type": "object"}, "oauth2": {"type": "object"},
                    "bearerTokenSecret": {"type": "object"}, "proxyUrl": {"type": "string"},
                }}},
        }},
    },
}


def load_docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def kname(obj: dict) -> str:
    ns = obj.get("metadata", {}).get("namespace")
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}" + (f" ({ns})" if ns else "")


def validate_k8s_objects(label: str, objs: list[dict], versions: list[str]) -> None:
    for version in versions:
        passed, crds = 0, 0
        for obj in objs:
            if obj.get("apiVersion") == "monitoring.coreos.com/v1":
                crds += 1
                continue
            try:
                kubernetes_validate.validate(obj, version, strict=True)
                passed += 1
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                fail(f"{label}: {kname(obj)} is invalid for Kubernetes {version}: {path}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError as e:
                fail(f"{label}: {kname(obj)}: {e.message}")
        if passed == len(objs) - crds:
            ok(f"{label}: {passed} objects valid against the Kubernetes {version} schemas (strict)")
    for obj in objs:
        if obj.get("apiVersion") == "monitoring.coreos.com/v1":
            if obj.get("kind") != "ServiceMonitor":
                fail(f"{label}: {kname(obj)}: no schema for this custom resource")
                continue
            errors = sorted(jsonschema.Draft202012Validator(SERVICE_MONITOR_SCHEMA).iter_errors(obj),
                            key=lambda e: list(e.path))
            for e in errors:
                fail(f"{label}: {kname(obj)}: {'.'.join(map(str, e.path))}: {e.message}")
            problems = []
            for ep in obj.get("spec", {}).get("endpoints", []):
                if "interval" in ep and "scrapeTimeout" in ep and \
                        parse_duration(ep["scrapeTimeout"]) > parse_duration(ep["interval"]):
                    problems.append("scrapeTimeout is longer than interval")
            for p in problems:
                fail(f"{label}: {kname(obj)}: {p}")
            if not errors and not problems:
                ok(f"{label}: {kname(obj)} matches the ServiceMonitor CRD structure (no CRD schema offline)")


def selects(selector: dict | None, labels: dict | None) -> bool:
    if not selector:
        return False
    labels = labels or {}
    match = selector.get("matchLabels", selector if "matchExpressions" not in selector else {})
    if any(labels.get(k) != v for k, v in match.items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def by_kind(objs: list[dict], kind: str) -> list[dict]:
    return [o for o in objs if o.get("kind") == kind]


def find(objs: list[dict], kind: str, name: str) -> dict | None:
    for o in objs:
        if o.get("kind") == kind and o.get("metadata", {}).get("name") == name:
            return o
    return None


def workload_containers(obj: dict) -> list[dict]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return spec.get("containers", []) + spec.get("initContainers", [])


def prestop_seconds(container: dict) -> float:
    pre = container.get("lifecycle", {}).get("preStop")
    if not pre:
        return 0.0
    if "sleep" in pre:
        return float(pre["sleep"]["seconds"])
    cmd = pre.get("exec", {}).get("command", [])
    joined = " ".join(cmd)
    m = re.search(r"\bsleep\s+(\d+(?:\.\d+)?)\b", joined)
    if m:
        return float(m.group(1))
    raise ValueError(f"cannot tell how long the preStop hook `{joined}` takes")


def check_security(label: str, objs: list[dict]) -> None:
    for obj in objs:
        if obj.get("kind") not in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            continue
        pod = obj["spec"]["template"]["spec"]
        psc = pod.get("securityContext", {})
        for c in workload_containers(obj):
            sc = c.get("securityContext", {})
            problems = []
            if not (sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True):
                problems.append("runAsNonRoot is not true")
            uid = sc.get("runAsUser", psc.get("runAsUser"))
            if uid is None or uid == 0:
                problems.append("no numeric non-zero runAsUser")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append("readOnlyRootFilesystem is not true")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append("allowPrivilegeEscalation is not false")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                problems.append("capabilities do not drop ALL")
            seccomp = sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                problems.append("no RuntimeDefault seccomp profile")
            res = c.get("resources", {})
            if not res.get("requests", {}).get("cpu") or not res.get("requests", {}).get("memory"):
                problems.append("cpu/memory requests missing")
            if not res.get("limits", {}).get("memory"):
                problems.append("memory limit missing")
            image = c.get("image", "")
            tag = image.rsplit("/", 1)[-1].partition(":")[2] if "@" not in image else "digest"
            if not tag or tag == "latest":
                problems.append(f"image `{image}` has no fixed tag")
            check(not problems,
                  f"{label}: {kname(obj)} container {c['name']}: non-root, read-only root fs, no caps, "
                  f"seccomp, requests/limits, pinned image {image}",
                  f"{label}: {kname(obj)} container {c['name']}: {'; '.join(problems)}")


def env_of(container: dict, objs: list[dict], label: str) -> tuple[dict[str, str], dict[str, dict], set[str]]:
    """(plain values incl. envFrom ConfigMaps, valueFrom entries, names from missing sources)."""
    values: dict[str, str] = {}
    refs: dict[str, dict] = {}
    for src in container.get("envFrom", []):
        if "configMapRef" in src:
            name = src["configMapRef"]["name"]
            cm = find(objs, "ConfigMap", name)
            if cm is None:
                if not src["configMapRef"].get("optional"):
                    fail(f"{label}: envFrom ConfigMap {name} is not in the rendered output")
                continue
            ok(f"{label}: envFrom ConfigMap {name} exists ({len(cm.get('data', {}))} keys)")
            values.update({k: str(v) for k, v in cm.get("data", {}).items()})
        else:
            fail(f"{label}: unexpected envFrom source {src}")
    for e in container.get("env", []):
        if "value" in e:
            values[e["name"]] = str(e["value"])
            refs.pop(e["name"], None)
        elif "valueFrom" in e:
            refs[e["name"]] = e["valueFrom"]
    return values, refs, set(refs)


def check_liveroom_deployment(label: str, objs: list[dict], root: Path, known: set[str] | None,
                              servicemonitor: bool = False) -> None:
    dep = find(objs, "Deployment", "liveroom")
    if dep is None:
        fail(f"{label}: no Deployment liveroom")
        return
    pod = dep["spec"]["template"]["spec"]
    pod_labels = dep["spec"]["template"]["metadata"].get("labels", {})
    check(selects(dep["spec"]["selector"], pod_labels), f"{label}: Deployment selector matches its pod labels")
    containers = [c for c in pod["containers"] if c["name"] == "liveroom"]
    if not containers:
        fail(f"{label}: Deployment liveroom has no container `liveroom`")
        return
    c = containers[0]
    values, refs, dynamic = env_of(c, objs, label)
    full = check_settings(f"{label}: Deployment env", values, known, dynamic)

    # Values the brief fixes.
    rid = refs.get("LIVEROOM_REPLICA_ID", {}).get("fieldRef", {}).get("fieldPath")
    check(rid == "metadata.name", f"{label}: LIVEROOM_REPLICA_ID comes from the pod name (downward API)",
          f"{label}: LIVEROOM_REPLICA_ID must come from fieldRef metadata.name, got {rid}")
    check(values.get("LIVEROOM_LOG_FORMAT") == "json", f"{label}: LIVEROOM_LOG_FORMAT=json",
          f"{label}: LIVEROOM_LOG_FORMAT is {values.get('LIVEROOM_LOG_FORMAT')!r}, want json")
    for secret_var in ("LIVEROOM_JWT_SECRET", "LIVEROOM_PUBLISH_KEY"):
        ref = refs.get(secret_var, {}).get("secretKeyRef")
        if not check(bool(ref) and not ref.get("optional"), f"{label}: {secret_var} from a required Secret key",
                     f"{label}: {secret_var} must come from a (non-optional) secretKeyRef"):
            continue
    if "LIVEROOM_JWT_SECRET" in values or "LIVEROOM_PUBLISH_KEY" in values:
        fail(f"{label}: a secret setting has a plain value (ConfigMap or env value)")

    # Secret references resolve where the Secret is part of the render; otherwise they
    # must match the documented example Secret.
    example = root / "deploy/k8s/base/secret.example.yaml"
    example_secret = load_docs(example)[0] if example.is_file() else None
    for var, vf in refs.items():
        ref = vf.get("secretKeyRef")
        if not ref:
            continue
        secret = find(objs, "Secret", ref["name"])
        if secret is None:
            if example_secret is None or example_secret["metadata"]["name"] != ref["name"]:
                fail(f"{label}: {var}: Secret {ref['name']} is neither rendered nor secret.example.yaml's")
            elif not ref.get("optional") and ref["key"] not in example_secret.get("stringData", {}):
                fail(f"{label}: {var}: key {ref['key']} is missing from secret.example.yaml")
            else:
                how = "optional key" if ref.get("optional") else "key"
                ok(f"{label}: {var} -> Secret {ref['name']} {how} {ref['key']} (created out of band, "
                   f"documented in secret.example.yaml)")
        else:
            keys = set(secret.get("data", {})) | set(secret.get("stringData", {}))
            if ref["key"] in keys:
                ok(f"{label}: {var} -> rendered Secret {ref['name']} key {ref['key']}")
            elif ref.get("optional"):
                ok(f"{label}: {var}: optional key {ref['key']} not in Secret {ref['name']}; the ConfigMap value applies")
            else:
                fail(f"{label}: {var}: rendered Secret {ref['name']} has no key {ref['key']}")

    # Ports and probes.
    port = listen_port(full["LIVEROOM_LISTEN"])
    named = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    check(port in named.values(), f"{label}: containerPort {port} is LIVEROOM_LISTEN's port",
          f"{label}: LIVEROOM_LISTEN port {port} is not a containerPort ({named})")

    def probe_target(probe: dict) -> tuple[str | None, int | None]:
        get = probe.get("httpGet", {})
        p = get.get("port")
        return get.get("path"), (named.get(p) if isinstance(p, str) else p)

    for kind, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/livez")):
        probe = c.get(kind)
        got = probe_target(probe) if probe else (None, None)
        check(got == (path, port), f"{label}: {kind} GET {path} on port {port}",
              f"{label}: {kind} must GET {path} on port {port}, got {got}")
    if c.get("startupProbe"):
        got = probe_target(c["startupProbe"])
        check(got == ("/livez", port), f"{label}: startupProbe GET /livez (no Redis)",
              f"{label}: startupProbe should use /livez, got {got}")
    ready = c.get("readinessProbe", {})
    redis_timeout = parse_duration(full["LIVEROOM_REDIS_TIMEOUT"])
    check(ready.get("timeoutSeconds", 1) > redis_timeout,
          f"{label}: readiness timeout {ready.get('timeoutSeconds', 1)}s > LIVEROOM_REDIS_TIMEOUT {redis_timeout:g}s",
          f"{label}: readiness timeout {ready.get('timeoutSeconds', 1)}s must exceed LIVEROOM_REDIS_TIMEOUT "
          f"{redis_timeout:g}s (/readyz PINGs Redis)")

    # Termination-grace arithmetic.
    try:
        pre = prestop_seconds(c)
    except ValueError as e:
        fail(f"{label}: {e}")
        pre = 0.0
    grace = pod.get("terminationGracePeriodSeconds", 30)
    drain = parse_duration(full["LIVEROOM_SHUTDOWN_TIMEOUT"])
    need = pre + drain + REAPER_STOP_BOUND_S + MIN_HEADROOM_S
    check(pre > 0, f"{label}: preStop sleeps {pre:g}s before SIGTERM",
          f"{label}: no preStop sleep: the pod stops accepting before endpoints are updated")
    check(grace >= need,
          f"{label}: terminationGracePeriodSeconds {grace} >= preStop {pre:g} + LIVEROOM_SHUTDOWN_TIMEOUT {drain:g} "
          f"+ reaper stop {REAPER_STOP_BOUND_S:g} + headroom {MIN_HEADROOM_S:g} = {need:g}",
          f"{label}: terminationGracePeriodSeconds {grace} < preStop {pre:g} + LIVEROOM_SHUTDOWN_TIMEOUT {drain:g} "
          f"+ reaper stop {REAPER_STOP_BOUND_S:g} + headroom {MIN_HEADROOM_S:g} = {need:g}: SIGKILL cuts the drain")
    check(pod.get("automountServiceAccountToken") is False or
          (find(objs, "ServiceAccount", pod.get("serviceAccountName", "default")) or {}).get(
              "automountServiceAccountToken") is False,
          f"{label}: no service account token mounted (liveroom never calls the API server)")

    # Service, ServiceMonitor, HPA, PDB point at this Deployment.
    svc = find(objs, "Service", "liveroom")
    if svc is None:
        fail(f"{label}: no Service liveroom")
    else:
        check(selects(svc["spec"].get("selector"), pod_labels), f"{label}: Service liveroom selects the pods",
              f"{label}: Service liveroom's selector {svc['spec'].get('selector')} misses pod labels {pod_labels}")
        for sp in svc["spec"]["ports"]:
            tp = sp.get("targetPort", sp["port"])
            target = named.get(tp) if isinstance(tp, str) else tp
            check(target == port, f"{label}: Service port {sp.get('name')} -> container port {port}",
                  f"{label}: Service port {sp.get('name')} targets {tp}, not the container's {port}")
        for sm in by_kind(objs, "ServiceMonitor"):
            check(selects(sm["spec"]["selector"], svc["metadata"].get("labels")),
                  f"{label}: ServiceMonitor {sm['metadata']['name']} selects Service liveroom",
                  f"{label}: ServiceMonitor {sm['metadata']['name']} does not select Service liveroom's labels")
            svc_ports = {p.get("name") for p in svc["spec"]["ports"]}
            for ep in sm["spec"]["endpoints"]:
                check(ep.get("port") in svc_ports and ep.get("path", "/metrics") == "/metrics",
                      f"{label}: ServiceMonitor scrapes port {ep.get('port')} path /metrics",
                      f"{label}: ServiceMonitor endpoint {ep} must name a Service port and path /metrics")
        if servicemonitor and not by_kind(objs, "ServiceMonitor"):
            fail(f"{label}: no ServiceMonitor")
    hpas = by_kind(objs, "HorizontalPodAutoscaler")
    if not hpas:
        fail(f"{label}: no HorizontalPodAutoscaler")
    for hpa in hpas:
        spec = hpa["spec"]
        ref = spec["scaleTargetRef"]
        cpu = [m for m in spec.get("metrics", []) if m.get("resource", {}).get("name") == "cpu"]
        lo, hi = spec.get("minReplicas", 1), spec["maxReplicas"]
        check(ref["kind"] == "Deployment" and ref["name"] == "liveroom" and cpu and lo <= hi and lo >= 2,
              f"{label}: HPA scales Deployment liveroom on CPU, {lo}..{hi} replicas",
              f"{label}: HPA {ref} min {lo} max {hi} cpu={bool(cpu)}: must scale Deployment liveroom "
              f"on CPU with min >= 2")
        # The HPA owns the count: a `replicas` in the Deployment is re-applied by every
        # `kubectl apply` and resets what the HPA scaled to.
        check("replicas" not in dep["spec"],
              f"{label}: Deployment liveroom sets no replicas (the HPA owns the count)",
              f"{label}: Deployment liveroom sets replicas: {dep['spec'].get('replicas')} while HPA "
              f"{hpa['metadata']['name']} scales it; drop it (every apply would reset the HPA's count)")
    pdbs = by_kind(objs, "PodDisruptionBudget")
    check(any(selects(p["spec"].get("selector"), pod_labels) for p in pdbs),
          f"{label}: a PodDisruptionBudget covers the liveroom pods", f"{label}: no PodDisruptionBudget selects the pods")


def check_redis(label: str, objs: list[dict], app_objs: list[dict] | None) -> None:
    sts = find(objs, "StatefulSet", "liveroom-redis")
    if sts is None:
        fail(f"{label}: no StatefulSet liveroom-redis")
        return
    pod = sts["spec"]["template"]["spec"]
    pod_labels = sts["spec"]["template"]["metadata"].get("labels", {})
    governing = find(objs, "Service", sts["spec"].get("serviceName", ""))
    check(governing is not None and governing["spec"].get("clusterIP") == "None",
          f"{label}: StatefulSet's governing Service {sts['spec'].get('serviceName')} is headless")
    conf_text = ""
    for vol in pod.get("volumes", []):
        if "configMap" in vol:
            cm = find(objs, "ConfigMap", vol["configMap"]["name"])
            if cm is None:
                fail(f"{label}: Redis volume ConfigMap {vol['configMap']['name']} missing")
            else:
                conf_text += "\n".join(cm.get("data", {}).values())
    conf = {}
    for line in conf_text.splitlines():
        parts = line.split(None, 1)
        if parts and not parts[0].startswith("#"):
            conf[parts[0].lower()] = parts[1].strip() if len(parts) > 1 else ""
    want = {"appendonly": "yes", "appendfsync": "everysec", "maxmemory-policy": "noeviction"}
    got = {k: conf.get(k) for k in want}
    check(got == want, f"{label}: redis.conf has appendonly yes, appendfsync everysec, maxmemory-policy noeviction",
          f"{label}: redis.conf settings {got}, want {want}")
    cmd = " ".join(workload_containers(sts)[0].get("command", []) + workload_containers(sts)[0].get("args", []))
    check("/etc/redis/redis.conf" in cmd, f"{label}: redis-server starts with the mounted redis.conf",
          f"{label}: redis-server command `{cmd}` does not load /etc/redis/redis.conf")
    check(bool(sts["spec"].get("volumeClaimTemplates")), f"{label}: Redis data on a PersistentVolumeClaim")
    svc = find(objs, "Service", "liveroom-redis")
    check(svc is not None and selects(svc["spec"].get("selector"), pod_labels),
          f"{label}: Service liveroom-redis selects the Redis pod")
    for np_ in by_kind(objs, "NetworkPolicy"):
        check(selects(np_["spec"]["podSelector"], pod_labels), f"{label}: NetworkPolicy {np_['metadata']['name']} "
              f"applies to the Redis pod")
        if app_objs is not None:
            dep = find(app_objs, "Deployment", "liveroom")
            app_labels = dep["spec"]["template"]["metadata"].get("labels", {}) if dep else {}
            allowed = any(selects(src.get("podSelector"), app_labels)
                          for rule in np_["spec"].get("ingress", []) for src in rule.get("from", []))
            check(allowed, f"{label}: NetworkPolicy admits the liveroom pods to Redis",
                  f"{label}: NetworkPolicy would block liveroom from Redis")
    if app_objs is not None:
        cms = [cm for cm in by_kind(app_objs, "ConfigMap") if "LIVEROOM_REDIS_URL" in cm.get("data", {})]
        for cm in cms:
            host = re.sub(r"^rediss?://(?:[^@/]*@)?([^:/]+).*$", r"\1", cm["data"]["LIVEROOM_REDIS_URL"])
            check(find(objs, "Service", host.split(".")[0]) is not None,
                  f"{label}: LIVEROOM_REDIS_URL host {host} is a rendered Service",
                  f"{label}: LIVEROOM_REDIS_URL host {host} is not a Service of the render")


# API groups every cluster serves; anything else is a custom resource that needs its CRD.
BUILTIN_GROUPS = {"", "apps", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io",
                  "batch", "storage.k8s.io", "scheduling.k8s.io", "coordination.k8s.io"}


def check_crd_free(label: str, objs: list[dict]) -> None:
    """Applies on any cluster: only built-in kinds (no Prometheus Operator CRDs)."""
    custom = [kname(o) + f" ({o.get('apiVersion')})" for o in objs
              if (o.get("apiVersion", "").rpartition("/")[0]) not in BUILTIN_GROUPS]
    check(not custom, f"{label}: only built-in kinds, so it applies on a cluster without extra CRDs",
          f"{label}: custom resources {custom} need CRDs; make them an opt-in component (deploy/k8s/components)")


# ingress-nginx annotations an Ingress in front of liveroom needs (see
# components/ingress-nginx/ingress.yaml for why).
INGRESS_ANNOTATIONS = {
    "nginx.ingress.kubernetes.io/proxy-buffering": "off",
    "nginx.ingress.kubernetes.io/proxy-http-version": "1.1",
    "nginx.ingress.kubernetes.io/proxy-body-size": "64k",
}
# Paths that must not be reachable from outside the cluster.
INTERNAL_PATHS = ("/metrics", "/readyz", "/livez", "/openapi.json")


def check_ingress(label: str, objs: list[dict]) -> None:
    ings = by_kind(objs, "Ingress")
    if not ings:
        fail(f"{label}: no Ingress (components/ingress-nginx)")
        return
    svc = find(objs, "Service", "liveroom")
    svc_ports = {p.get("name") for p in svc["spec"]["ports"]} | {p["port"] for p in svc["spec"]["ports"]} \
        if svc else set()
    for ing in ings:
        name = kname(ing)
        spec = ing["spec"]
        check(spec.get("ingressClassName") == "nginx", f"{label}: {name} is for ingress-nginx (class nginx)",
              f"{label}: {name} ingressClassName is {spec.get('ingressClassName')}, want nginx")
        ann = ing["metadata"].get("annotations", {})
        bad = {k: ann.get(k) for k, v in INGRESS_ANNOTATIONS.items() if ann.get(k) != v}
        check(not bad, f"{label}: {name} passes answers on unbuffered over HTTP/1.1, bodies <= 64k",
              f"{label}: {name} annotations {bad}, want {INGRESS_ANNOTATIONS}")
        read = ann.get("nginx.ingress.kubernetes.io/proxy-read-timeout", "60")
        check(read.isdigit() and int(read) >= 10, f"{label}: {name} proxy-read-timeout {read} s",
              f"{label}: {name} proxy-read-timeout {read} must be whole seconds >= 10")
        for rule in spec.get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                be = path["backend"].get("service", {})
                port = be.get("port", {}).get("name") or be.get("port", {}).get("number")
                check(be.get("name") == "liveroom" and port in svc_ports,
                      f"{label}: {name} {path['path']} -> Service liveroom port {port}",
                      f"{label}: {name} {path['path']} backend {be} is not a port of Service liveroom")
                p, kind = path["path"], path.get("pathType")
                exposed = [i for i in INTERNAL_PATHS
                           if (kind == "Exact" and p == i) or (kind != "Exact" and i.startswith(p.rstrip("/") + "/"))
                           or p in ("/", "")]
                check(not exposed, f"{label}: {name} {p} keeps {', '.join(INTERNAL_PATHS)} inside the cluster",
                      f"{label}: {name} path {p} ({kind}) exposes {exposed}")


def check_image_steps(root: Path) -> None:
    """The READMEs say to build and push the image before `kubectl apply -k`."""
    for doc in ("README.md", "deploy/README.md"):
        text = (root / doc).read_text()
        # Commands, not prose: the first line that runs them.
        first = [re.search(rf"^\s*{cmd}", text, re.M) for cmd in ("kubectl apply -k", "docker push")]
        apply, push = (m.start() if m else -1 for m in first)
        check(apply >= 0 and 0 <= push < apply and "docker build" in text[:apply],
              f"{doc}: builds and pushes the image before the first `kubectl apply -k`",
              f"{doc}: `docker build` and `docker push` must come before the first `kubectl apply -k`")


def check_overlay_namespace(label: str, objs: list[dict]) -> None:
    nss = by_kind(objs, "Namespace")
    if not nss:
        return
    ns = nss[0]["metadata"]["name"]
    stray = [kname(o) for o in objs if o.get("kind") != "Namespace" and o["metadata"].get("namespace") != ns]
    check(not stray, f"{label}: every object is in namespace {ns}", f"{label}: objects outside {ns}: {stray}")


def k8s(root: Path, rendered: dict[str, Path], versions: list[str], known: set[str] | None) -> None:
    section("kubernetes manifests")
    renders = {name: load_docs(path) for name, path in rendered.items()}
    example = root / "deploy/k8s/base/secret.example.yaml"
    if example.is_file():
        renders["base/secret.example.yaml"] = load_docs(example)
    else:
        fail("deploy/k8s/base/secret.example.yaml is missing")
    for name, objs in renders.items():
        validate_k8s_objects(name, objs, versions)
    for name in ("base", "overlays/example", "overlays/example-monitoring"):
        if name in renders:
            check_liveroom_deployment(name, renders[name], root, known,
                                      servicemonitor=name == "overlays/example-monitoring")
            check_security(name, renders[name])
        else:
            fail(f"{name}: not rendered")
    for name in ("base", "base/redis", "overlays/example"):
        if name in renders:
            check_crd_free(name, renders[name])
    for name in ("overlays/example", "overlays/example-monitoring"):
        if name in renders:
            check_ingress(name, renders[name])
            check_overlay_namespace(name, renders[name])
    check_image_steps(root)
    if "base/redis" in renders:
        check_security("base/redis", renders["base/redis"])
        check_redis("base/redis", renders["base/redis"], renders.get("base"))
    else:
        fail("base/redis: not rendered")
    if "overlays/example" in renders:
        objs = renders["overlays/example"]
        check_redis("overlays/example", objs, objs)
        dep = find(objs, "Deployment", "liveroom")
        base_dep = find(renders.get("base", []), "Deployment", "liveroom")
        if dep and base_dep:
            image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
            base_image = base_dep["spec"]["template"]["spec"]["containers"][0]["image"]
            check(image != base_image, f"overlays/example: image patched to {image}",
                  "overlays/example: the image is not patched")


# ---------------------------------------------------------------------------------
# docker-compose.yml
# ---------------------------------------------------------------------------------

def compose(root: Path, schema_path: str | None, known: set[str] | None) -> None:
    section("docker-compose.yml")
    path = root / "docker-compose.yml"
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        fail(f"docker-compose.yml does not parse: {e}")
        return
    ok("docker-compose.yml parses (anchors and merge keys resolved)")
    if schema_path:
        schema = json.loads(Path(schema_path).read_text())
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        if "2019-09" in schema.get("$schema", ""):
            cls = jsonschema.Draft201909Validator
        errors = sorted(cls(schema).iter_errors(doc), key=lambda e: list(e.path))
        for e in errors:
            fail(f"docker-compose.yml: {'.'.join(map(str, e.path)) or '(top)'}: {e.message}")
        if not errors:
            ok("docker-compose.yml valid against the Compose Specification JSON schema")
    else:
        skip("Compose Specification schema unavailable")
    services = doc.get("services", {})
    required = ["redis", "liveroom-1", "liveroom-2", "liveroom-3", "nginx", "prometheus", "grafana"]
    missing = [s for s in required if s not in services]
    check(not missing, f"services present: {', '.join(required)}", f"services missing: {missing}")
    if missing:
        return

    def env(svc: dict) -> dict[str, str]:
        e = svc.get("environment", {})
        if isinstance(e, list):
            e = dict(item.split("=", 1) if "=" in item else (item, "") for item in e)
        return {k: ("" if v is None else str(v)) for k, v in e.items()}

    def resolved(v: str) -> str:
        """${VAR:-default} -> default, as compose does with VAR unset."""
        return re.sub(r"\$\{[A-Z0-9_]+:?-([^}]*)\}", r"\1", v)

    def mounts(svc: dict) -> dict[str, str]:
        out = {}
        for v in svc.get("volumes", []):
            if isinstance(v, str):
                parts = v.split(":")
                out[parts[1]] = parts[0]
            else:
                out[v["target"]] = v.get("source", "")
        return out

    # Bind mounts exist.
    for name, svc in services.items():
        for target, source in mounts(svc).items():
            if source.startswith((".", "/")):
                check((root / source).exists(), f"{name}: bind mount {source} exists",
                      f"{name}: bind mount source {source} does not exist")

    redis_cmd = " ".join(map(str, services["redis"].get("command", [])))
    check(re.search(r"--appendonly\s+yes", redis_cmd) is not None and "/data" in mounts(services["redis"]),
          "redis: AOF on (--appendonly yes) with /data on a volume",
          f"redis: AOF must be on with a /data volume (command: {redis_cmd})")
    check("--appendfsync everysec" in redis_cmd, "redis: appendfsync everysec")
    check(bool(services["redis"].get("healthcheck")), "redis: has a healthcheck (replicas wait for it)")

    replicas = [f"liveroom-{i}" for i in (1, 2, 3)]
    ids, ports = set(), {}
    for name in replicas:
        svc = services[name]
        build = svc.get("build", {})
        if isinstance(build, str):
            build = {"context": build}
        dockerfile = (root / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).resolve()
        check(dockerfile == (root / "deploy/Dockerfile").resolve() and
              (root / build.get("context", ".")).resolve() == root,
              f"{name}: built from deploy/Dockerfile with the repository as context",
              f"{name}: build must use context . and deploy/Dockerfile, got {build}")
        e = {k: resolved(v) for k, v in env(svc).items()}
        full = check_settings(f"{name} environment", e, known)
        ids.add(e.get("LIVEROOM_REPLICA_ID"))
        ports[name] = listen_port(full["LIVEROOM_LISTEN"])
        url = e.get("LIVEROOM_REDIS_URL", "")
        host = re.sub(r"^rediss?://(?:[^@/]*@)?([^:/]+).*$", r"\1", url)
        check(host == "redis", f"{name}: LIVEROOM_REDIS_URL points at the redis service",
              f"{name}: LIVEROOM_REDIS_URL `{url}` does not point at the redis service")
        check(full["LIVEROOM_LOG_FORMAT"] == "json", f"{name}: json logs")
        dep = svc.get("depends_on", {})
        check(isinstance(dep, dict) and dep.get("redis", {}).get("condition") == "service_healthy",
              f"{name}: starts after Redis is healthy")
        grace = parse_duration(svc.get("stop_grace_period", "10s"))
        need = parse_duration(full["LIVEROOM_SHUTDOWN_TIMEOUT"]) + REAPER_STOP_BOUND_S + MIN_HEADROOM_S
        check(grace >= need, f"{name}: stop_grace_period {grace:g}s >= drain + reaper stop + headroom = {need:g}s",
              f"{name}: stop_grace_period {grace:g}s < {need:g}s: SIGKILL cuts the drain")
    check(len(ids) == 3 and None not in ids, "liveroom-1..3 have distinct LIVEROOM_REPLICA_IDs",
          f"replica ids must be distinct, got {ids}")

    # nginx
    nginx = services["nginx"]
    nmounts = mounts(nginx)
    conf_src = nmounts.get("/etc/nginx/nginx.conf", "")
    check(conf_src.lstrip("./") == "deploy/compose/nginx.conf", "nginx: mounts deploy/compose/nginx.conf",
          f"nginx: /etc/nginx/nginx.conf must come from deploy/compose/nginx.conf, got {conf_src!r}")
    published = [str(p) for p in nginx.get("ports", [])]
    check(any(p.split(":")[-2:] == ["8080", "8080"] or p == "8080:8080" for p in published),
          "nginx: publishes port 8080", f"nginx: must publish 8080, got {published}")
    conf_path = root / "deploy/compose/nginx.conf"
    if conf_path.is_file():
        text = re.sub(r"#[^\n]*", "", conf_path.read_text())
        check(text.count("{") == text.count("}"), "nginx.conf: braces balance")
        m = re.search(r"upstream\s+(\S+)\s*\{([^}]*)\}", text)
        servers = re.findall(r"\bserver\s+([A-Za-z0-9_.-]+):(\d+)", m.group(2)) if m else []
        want = sorted((n, str(ports[n])) for n in replicas)
        check(sorted(servers) == want, f"nginx.conf: upstream {m.group(1) if m else '?'} is exactly "
              f"{', '.join(f'{h}:{p}' for h, p in want)}", f"nginx.conf: upstream servers {servers}, want {want}")
        check(m is not None and re.search(r"proxy_pass\s+http://" + re.escape(m.group(1)) + r"\s*;", text) is not None,
              "nginx.conf: proxies to that upstream")
        check(re.search(r"\blisten\s+8080\s*;", text) is not None, "nginx.conf: listens on 8080")
        ev = re.search(r"location\s+/client/live/room/events/\s*\{([^}]*)\}", text)
        ev_body = ev.group(1) if ev else ""
        ev_needs = [r"proxy_buffering\s+off\s*;", r"proxy_read_timeout\s+1h\s*;",
                    r"proxy_http_version\s+1\.1\s*;", r'proxy_set_header\s+Connection\s+""\s*;']
        check(ev is not None and all(re.search(n, ev_body) for n in ev_needs),
              "nginx.conf: event streams (/client/live/room/events/) unbuffered, 1 h read timeout, HTTP/1.1 keep-alive",
              "nginx.conf: needs location /client/live/room/events/ with proxy_buffering off; proxy_read_timeout 1h; "
              "proxy_http_version 1.1; proxy_set_header Connection \"\";")

    # Prometheus
    prom = services["prometheus"]
    pmounts = mounts(prom)
    src = next((s for t, s in pmounts.items() if t.endswith("prometheus.yml")), "")
    check(src.lstrip("./") == "deploy/compose/prometheus.yml", "prometheus: mounts deploy/compose/prometheus.yml")
    ppath = root / "deploy/compose/prometheus.yml"
    try:
        pconf = yaml.safe_load(ppath.read_text())
        targets = set()
        for job in pconf.get("scrape_configs", []):
            if job.get("metrics_path", "/metrics") != "/metrics":
                continue
            for sc in job.get("static_configs", []):
                targets.update(sc.get("targets", []))
        for job in pconf.get("scrape_configs", []):
            for key in ("scrape_interval", "scrape_timeout"):
                if key in job or key in pconf.get("global", {}):
                    parse_duration(job.get(key, pconf["global"].get(key)))
        want = {f"{n}:{ports[n]}" for n in replicas}
        check(want <= targets, f"prometheus.yml: scrapes every replica ({', '.join(sorted(want))}) at /metrics",
              f"prometheus.yml: missing targets {sorted(want - targets)}")
        names = [j.get("job_name") for j in pconf.get("scrape_configs", [])]
        check(len(names) == len(set(names)) and all(names), "prometheus.yml: job names unique")
    except (OSError, yaml.YAMLError, ValueError, AttributeError, TypeError) as e:
        fail(f"prometheus.yml: {e}")

    # Grafana
    graf = services["grafana"]
    gm = mounts(graf)
    prov = gm.get("/etc/grafana/provisioning", "")
    check(prov.lstrip("./") == "deploy/compose/grafana/provisioning",
          "grafana: provisioning from deploy/compose/grafana/provisioning")
    dash_target = next((t for t, s in gm.items() if s.lstrip("./").rstrip("/") == "deploy/grafana"), None)
    check(dash_target is not None, f"grafana: deploy/grafana mounted at {dash_target}",
          "grafana: deploy/grafana (the dashboard) is not mounted")
    try:
        provdir = root / "deploy/compose/grafana/provisioning"
        ds = yaml.safe_load((provdir / "datasources/prometheus.yml").read_text())
        urls = [d.get("url") for d in ds.get("datasources", []) if d.get("type") == "prometheus"]
        check(any(u and "prometheus:9090" in u for u in urls), "grafana: Prometheus datasource http://prometheus:9090")
        dp = yaml.safe_load((provdir / "dashboards/liveroom.yml").read_text())
        paths = [p.get("options", {}).get("path") for p in dp.get("providers", [])]
        check(dash_target in paths, f"grafana: dashboard provider reads {dash_target}",
              f"grafana: dashboard provider paths {paths} do not include {dash_target}")
    except (OSError, yaml.YAMLError, AttributeError) as e:
        fail(f"grafana provisioning: {e}")


# ---------------------------------------------------------------------------------
# Grafana dashboard
# ---------------------------------------------------------------------------------

COMMON_LABELS = {"job", "instance", "replica", "namespace", "pod", "service", "container", "endpoint"}
METRICS: dict[str, tuple[str, set[str]]] = {
    "liveroom_http_requests_total": ("counter", {"route", "method", "status"}),
    "liveroom_http_request_duration_seconds": ("histogram", {"route", "method"}),
    "liveroom_http_requests_in_flight": ("gauge", set()),
    "liveroom_redis_command_duration_seconds": ("histogram", {"command", "operation"}),
    "liveroom_redis_command_errors_total": ("counter", {"command", "operation"}),
    "liveroom_redis_commands_in_flight": ("gauge", set()),
    "liveroom_reaper_partitions_held": ("gauge", set()),
    "liveroom_reaper_rooms_visited_total": ("counter", set()),
    "liveroom_reaper_sweep_duration_seconds": ("histogram", set()),
    "liveroom_reaper_members_expired_total": ("counter", set()),
    "liveroom_reaper_anchors_offline_total": ("counter", set()),
    "liveroom_reaper_rooms_ended_total": ("counter", set()),
    "liveroom_live_rooms": ("gauge", set()),
    "liveroom_present_members": ("gauge", set()),
    "liveroom_webhook_deliveries_total": ("counter", {"outcome"}),
    "liveroom_webhook_delivery_duration_seconds": ("histogram", set()),
    "liveroom_webhook_dead_letters_total": ("counter", set()),
    "liveroom_webhook_events_trimmed_total": ("counter", set()),
    "liveroom_webhook_rooms_due": ("gauge", set()),
    "liveroom_webhook_shards_held": ("gauge", set()),
    "liveroom_sse_subscribers": ("gauge", set()),
    "liveroom_sse_rooms": ("gauge", set()),
    "liveroom_sse_polls_total": ("counter", set()),
}


def series_labels(series: str) -> set[str] | None:
    """Labels of an exported series name, or None if liveroom exports no such series."""
    if series in METRICS and METRICS[series][0] != "histogram":
        return METRICS[series][1] | COMMON_LABELS
    for suffix in ("_bucket", "_sum", "_count"):
        base = series[: -len(suffix)] if series.endswith(suffix) else None
        if base in METRICS and METRICS[base][0] == "histogram":
            return METRICS[base][1] | COMMON_LABELS | ({"le"} if suffix == "_bucket" else set())
    return None


def grafana_to_promql(expr: str) -> str:
    expr = re.sub(r"\$__(rate_interval|interval|range)\b", "5m", expr)
    expr = re.sub(r"\$\{?__range_s\}?|\$\{?__interval_ms\}?", "300", expr)
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)(:[a-z]+)?\}?", ".*", expr)


def analyse(expr: str) -> tuple[list[tuple[str, set[str]]], list[set[str]]]:
    """(selectors: (metric name, matcher labels)), grouping label sets) of a PromQL expression."""
    tree = promql_parser.parse(expr)
    selectors, groupings = [], []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            labels = {m.name for m in node.matchers.matchers}
            for group in node.matchers.or_matchers or []:
                labels |= {m.name for m in group}
            name = node.name
            if not name:
                for m in node.matchers.matchers:
                    if m.name == "__name__":
                        name = m.value
            selectors.append((name or "", labels - {"__name__"}))
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            groupings.append(set(node.modifier.labels))
        elif isinstance(node, promql_parser.BinaryExpr) and node.modifier is not None:
            matching = node.modifier.matching
            if matching is not None:
                groupings.append(set(matching.labels))
            groupings.append(set(node.modifier.group_labels or []))

    promql_parser.walk(tree, pre_visit=visit)
    return selectors, groupings


def dashboard(root: Path) -> None:
    section("grafana dashboard")
    path = root / "deploy/grafana/liveroom-dashboard.json"
    try:
        dash = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        fail(f"{path.relative_to(root)}: {e}")
        return
    ok(f"{path.relative_to(root)} parses: \"{dash.get('title')}\" uid {dash.get('uid')}")
    check(bool(dash.get("uid")) and bool(dash.get("title")) and isinstance(dash.get("panels"), list),
          "dashboard has uid, title and panels")
    panels = []
    for p in dash.get("panels", []):
        panels.append(p)
        panels.extend(p.get("panels", []))
    ids = [p.get("id") for p in panels]
    check(len(ids) == len(set(ids)) and None not in ids, f"{len(panels)} panels with unique ids")
    variables = {v["name"] for v in dash.get("templating", {}).get("list", [])}
    exprs: list[tuple[str, str]] = []
    for p in panels:
        if p.get("type") == "row":
            continue
        if not p.get("targets"):
            fail(f"panel {p.get('title')!r} has no queries")
        for t in p.get("targets", []):
            if not t.get("expr"):
                fail(f"panel {p.get('title')!r} target {t.get('refId')} has no expr")
                continue
            exprs.append((p.get("title", "?"), t["expr"]))
        ds = [p.get("datasource")] + [t.get("datasource") for t in p.get("targets", [])]
        uids = {d.get("uid") for d in ds if isinstance(d, dict)}
        if uids - {"${datasource}"}:
            fail(f"panel {p.get('title')!r}: datasource {uids} is not the $datasource variable")
        gp = p.get("gridPos", {})
        if not all(k in gp for k in ("h", "w", "x", "y")) or gp.get("x", 0) + gp.get("w", 0) > 24:
            fail(f"panel {p.get('title')!r}: bad gridPos {gp}")
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        if v.get("type") == "query":
            q = q.get("query") if isinstance(q, dict) else q
            m = re.fullmatch(r"label_values\((.*),\s*([A-Za-z_]+)\)", q or "")
            if m:
                exprs.append((f"variable ${v['name']}", m.group(1)))
            else:
                fail(f"variable {v['name']}: unsupported query {q!r}")
    used_vars = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", " ".join(e for _, e in exprs)))
    undefined = sorted(u for u in used_vars if not u.startswith("__") and u not in variables)
    check(not undefined, f"every $variable used is defined ({', '.join(sorted(variables))})",
          f"undefined dashboard variables: {undefined}")

    seen: set[str] = set()
    bad = 0
    for title, expr in exprs:
        try:
            selectors, groupings = analyse(grafana_to_promql(expr))
        except ValueError as e:
            fail(f"panel {title!r}: PromQL does not parse: {e}: {expr!r}")
            bad += 1
            continue
        allowed: set[str] = set()
        for name, labels in selectors:
            known = series_labels(name)
            if known is None:
                fail(f"panel {title!r}: `{name}` is not a series liveroom exports")
                bad += 1
                continue
            seen.add(name)
            allowed |= known
            if labels - known:
                fail(f"panel {title!r}: `{name}` has no label(s) {sorted(labels - known)}")
                bad += 1
        for group in groupings:
            if group - allowed:
                fail(f"panel {title!r}: grouping by {sorted(group - allowed)}, which its series do not carry")
                bad += 1
    if not bad:
        ok(f"{len(exprs)} PromQL queries parse (promql-parser) and use only liveroom's series and labels")
    bases = set()
    for s in seen:
        for suffix in ("_bucket", "_sum", "_count", ""):
            if s.endswith(suffix) and s[: len(s) - len(suffix)] in METRICS:
                bases.add(s[: len(s) - len(suffix)])
    unused = sorted(set(METRICS) - bases)
    check(not unused, f"all {len(METRICS)} liveroom metrics are on the dashboard",
          f"metrics not on the dashboard: {unused}")


# ---------------------------------------------------------------------------------
# Dockerfile and .dockerignore (beyond hadolint)
# ---------------------------------------------------------------------------------

def dockerfile(root: Path) -> list[str] | None:
    section("Dockerfile and .dockerignore")
    path = root / "deploy/Dockerfile"
    text = path.read_text()
    lines = re.sub(r"\\\n", " ", text).splitlines()
    instr = [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if len(ln.split(None, 1)) > 1 else "")
             for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    froms = [a for i, a in instr if i == "FROM"]
    check(len(froms) >= 2 and froms[0].startswith("rust:1-bookworm"),
          f"multi-stage: {' -> '.join(f.split()[0] for f in froms)}", f"stages {froms}")
    check(any(i == "RUN" and "cargo build" in a and "--release" in a and "--locked" in a for i, a in instr),
          "builder runs cargo build --release --locked")
    last = max(n for n, (i, _) in enumerate(instr) if i == "FROM")
    final = instr[last:]
    users = [a.strip() for i, a in final if i == "USER"]
    check(bool(users) and users[-1].split(":")[0] not in ("0", "root"),
          f"runtime stage runs as USER {users[-1] if users else '?'}", "runtime stage has no non-root USER")
    check(any(i == "EXPOSE" and "8080" in a.split() for i, a in final), "EXPOSE 8080")
    entry = [a for i, a in final if i == "ENTRYPOINT"]
    check(bool(entry) and json.loads(entry[-1]) == ["liveroom", "serve"], 'ENTRYPOINT ["liveroom", "serve"]')
    check(any(i == "RUN" and "--package liveroom" in a for i, a in instr) or "[workspace]" not in
          (root / "Cargo.toml").read_text(), "the build names the liveroom package (the repo is a workspace)")
    ignore = root / ".dockerignore"
    if not ignore.is_file():
        fail(".dockerignore is missing")
        return
    patterns = [p.strip() for p in ignore.read_text().splitlines() if p.strip() and not p.strip().startswith("#")]
    files = docker_context(root, patterns)
    names = {f.split("/", 1)[0] for f in files}
    check(not {"target", ".git"} & names, f".dockerignore keeps target/ and .git out; context is {len(files)} files",
          f".dockerignore leaves {sorted({'target', '.git'} & names)} in the build context")
    # What the build needs must be in the context: the Cargo files, workspace members,
    # declared targets, src/, and everything src/ embeds with include_str!/include_bytes!.
    needed = set(cargo_inputs(root))
    for rs in (root / "src").rglob("*.rs"):
        for rel in re.findall(r'include_(?:str|bytes)!\(\s*(?:concat!\(\s*)?"([^"]+)"', rs.read_text()):
            target = (rs.parent / rel).resolve()
            try:
                needed.add(str(target.relative_to(root)).split("/", 1)[0])
            except ValueError:
                pass
    lost = sorted(n for n in needed if not any(f == n or f.startswith(n.rstrip("/") + "/") for f in files))
    check(not lost, f"build inputs are in the context: {', '.join(sorted(needed))}",
          f"build inputs missing from the Docker build context: {lost}")
    return files


def docker_context(root: Path, patterns: list[str]) -> list[str]:
    """Files Docker would send as the build context, by .dockerignore's rules
    (Go filepath.Match plus `**`, `!` exceptions, a match on a parent excludes children)."""
    rules = []
    for pat in patterns:
        negate = pat.startswith("!")
        pat = pat[1:] if negate else pat
        pat = pat.strip().lstrip("/").rstrip("/")
        rx, i = "", 0
        while i < len(pat):
            if pat.startswith("**/", i):
                rx, i = rx + "(?:.*/)?", i + 3
            elif pat.startswith("**", i):
                rx, i = rx + ".*", i + 2
            elif pat[i] == "*":
                rx, i = rx + "[^/]*", i + 1
            elif pat[i] == "?":
                rx, i = rx + "[^/]", i + 1
            else:
                rx, i = rx + re.escape(pat[i]), i + 1
        rules.append((re.compile(rx + r"\Z"), negate))

    def excluded(rel: str) -> bool:
        parts = rel.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        result = False
        for rx, negate in rules:
            if any(rx.match(p) for p in prefixes):
                result = not negate
        return result

    prune = not any(negate for _, negate in rules)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath).relative_to(root)
        if prune:  # with no `!` exception an excluded directory excludes all below it
            dirnames[:] = [d for d in dirnames if not excluded(str(base / d))]
        out.extend(str(base / f) for f in filenames if not excluded(str(base / f)))
    return sorted(out)


def cargo_inputs(root: Path) -> list[str]:
    """Top-level paths Cargo needs to load the workspace: manifests, members, targets."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11: the basic set
        return ["Cargo.toml", "Cargo.lock", "src"]
    manifest = tomllib.loads((root / "Cargo.toml").read_text())
    out = ["Cargo.toml", "Cargo.lock", "src"]
    for member in manifest.get("workspace", {}).get("members", []):
        if member not in (".", ""):
            out.append(member.split("/")[0])
    for section in ("bench", "test", "example", "bin"):
        for target in manifest.get(section, []):
            path = target.get("path") or {"bench": "benches", "test": "tests", "example": "examples",
                                          "bin": "src"}[section]
            out.append(path.split("/")[0])
    if "build" in manifest.get("package", {}):
        out.append(str(manifest["package"]["build"]).split("/")[0])
    elif (root / "build.rs").is_file():
        out.append("build.rs")
    return sorted(set(out))


def docker_build_context(root: Path, files: list[str] | None, out: Path | None, build: bool) -> None:
    """Copies the Docker build context and runs Cargo on it like the builder stage does."""
    section("Docker build context")
    if not files or out is None:
        skip("no context to check")
        return
    cargo = shutil.which("cargo")
    if cargo is None:
        skip("cargo not installed: the context was not loaded with Cargo")
        return
    ctx = out / "docker-context"
    shutil.rmtree(ctx, ignore_errors=True)
    for rel in files:
        dst = ctx / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, dst)
    res = subprocess.run([cargo, "metadata", "--locked", "--format-version", "1"], cwd=ctx,
                         capture_output=True, text=True)
    if res.returncode == 0:
        pkgs = [p["name"] for p in json.loads(res.stdout)["packages"] if p.get("source") is None]
        ok(f"cargo metadata --locked on the context copy: workspace loads, Cargo.lock is current "
           f"(packages {', '.join(sorted(pkgs))})")
    else:
        fail(f"cargo metadata --locked on the Docker context fails: {res.stderr.strip()[-800:]}")
        return
    if not build:
        skip("cargo build --release --locked in the context (the Dockerfile's build step): "
             "only with `deploy/validate --build`")
        return
    env = dict(os.environ, CARGO_TARGET_DIR=str(out / "docker-target"))
    res = subprocess.run([cargo, "build", "--release", "--locked", "--package", "liveroom", "--bin", "liveroom"],
                         cwd=ctx, env=env, capture_output=True, text=True)
    binary = out / "docker-target" / "release" / "liveroom"
    if res.returncode == 0 and binary.is_file():
        ok(f"cargo build --release --locked --package liveroom --bin liveroom in the context copy "
           f"({binary.stat().st_size // 1024} KiB binary)")
        help_ = subprocess.run([str(binary), "serve", "--help"], capture_output=True, text=True)
        check(help_.returncode == 0 and "LIVEROOM_SHUTDOWN_TIMEOUT" in help_.stdout,
              "the built binary answers `liveroom serve --help`")
        sigterm_drill(binary, out)
    else:
        fail(f"cargo build in the Docker context fails: {res.stderr.strip()[-1500:]}")


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_status(url: str) -> int | None:
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def check_exposition(url: str) -> None:
    """The dashboard's metric list against what the binary really exports."""
    import urllib.request
    with urllib.request.urlopen(url, timeout=2) as resp:
        text = resp.read().decode()
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)", text, re.M))
    labels: dict[str, set[str]] = {}
    for name, lbl in re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? ", text, re.M):
        labels.setdefault(name, set()).update(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"", lbl or ""))
    problems, absent = [], []
    for name, (kind, want) in METRICS.items():
        if name not in types:
            (absent if want else problems).append(name)
            continue
        if types[name] != kind:
            problems.append(f"{name} is a {types[name]}, the dashboard expects a {kind}")
        sample = name + ("_count" if kind == "histogram" else "")
        got = labels.get(sample, set())
        if sample in labels and got != want:
            problems.append(f"{name} has labels {sorted(got)}, expected {sorted(want)}")
    check(not problems, f"SIGTERM drill: /metrics exports the dashboard's metrics with the expected types and labels"
          + (f" ({', '.join(absent)}: labelled, no series until first use)" if absent else ""),
          f"SIGTERM drill: /metrics disagrees with the dashboard: {'; '.join(problems)}")


def sigterm_drill(binary: Path, out: Path) -> None:
    """Runs the built binary as the pod would (env only, json logs, external Redis),
    checks the probes, then SIGTERM: /readyz must fail and the process exit 0 within
    LIVEROOM_SHUTDOWN_TIMEOUT + the reaper bound (the termination-grace arithmetic)."""
    import signal
    import time
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        skip("SIGTERM drill: redis-server not installed (scripts/setup installs it)")
        return
    rport, lport = free_port(), free_port()
    redis = subprocess.Popen([redis_server, "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {"PATH": "/usr/bin:/bin", "LIVEROOM_LISTEN": f"127.0.0.1:{lport}",
           "LIVEROOM_REDIS_URL": f"redis://127.0.0.1:{rport}/0", "LIVEROOM_LOG_FORMAT": "json",
           "LIVEROOM_REPLICA_ID": "drill-0", "LIVEROOM_JWT_SECRET": "drill-secret-0123456789abcdef",
           "LIVEROOM_PUBLISH_KEY": "drill-key", "LIVEROOM_SHUTDOWN_TIMEOUT": "10s",
           "LIVEROOM_KEY_PREFIX": "drill"}
    log = out / "sigterm-drill.log"
    app = None
    try:
        time.sleep(0.3)
        with open(log, "w") as logf:
            app = subprocess.Popen([str(binary), "serve"], env=env, stdout=logf, stderr=logf)
            base = f"http://127.0.0.1:{lport}"
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and http_status(base + "/readyz") != 200:
                time.sleep(0.2)
            ready = http_status(base + "/readyz")
            live = http_status(base + "/livez")
            if not check(ready == 200 and live == 200, "SIGTERM drill: /livez and /readyz answer 200",
                         f"SIGTERM drill: /livez {live}, /readyz {ready} (log: {log})"):
                return
            # Let the reaper take its lease and sweep (so the drill covers the lease's
            # release, and the reaper's metrics exist).
            time.sleep(2.5)
            metrics = http_status(base + "/metrics")
            if metrics == 200:
                ok("SIGTERM drill: /metrics answers 200")
                check_exposition(base + "/metrics")
            else:
                skip(f"SIGTERM drill: /metrics answers {metrics} (not served by this build yet)")
            started = time.monotonic()
            app.send_signal(signal.SIGTERM)
            try:
                code = app.wait(timeout=10 + REAPER_STOP_BOUND_S + 2)
            except subprocess.TimeoutExpired:
                fail("SIGTERM drill: still running past LIVEROOM_SHUTDOWN_TIMEOUT + reaper bound")
                return
            took = time.monotonic() - started
        text = log.read_text()
        json_lines = all(line.startswith("{") for line in text.splitlines()
                         if line.strip() and not line.startswith("development token"))
        check(code == 0, f"SIGTERM drill: exit 0 after {took:.1f}s (budget 10s drain + {REAPER_STOP_BOUND_S:g}s reaper)",
              f"SIGTERM drill: exit code {code} after {took:.1f}s (log: {log})")
        check("lease released" in text, "SIGTERM drill: the reaper lease was released on the way out",
              f"SIGTERM drill: no 'lease released' in the log ({log})")
        check(json_lines, "SIGTERM drill: LIVEROOM_LOG_FORMAT=json gives JSON log lines only",
              f"SIGTERM drill: non-JSON log lines in {log}")
    finally:
        for proc in (app, redis):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--k8s-versions", default="1.37.0")
    ap.add_argument("--compose-schema", default="")
    ap.add_argument("--rendered", action="append", default=[], help="NAME=PATH of a kustomize render")
    ap.add_argument("--counts", help="file to write `passed failed skipped` to")
    ap.add_argument("--out", help="scratch directory (target/deploy-validate)")
    ap.add_argument("--build", action="store_true", help="also cargo build the Docker context")
    args = ap.parse_args()
    root = Path(args.root).resolve()
    rendered = {}
    for item in args.rendered:
        name, _, path = item.partition("=")
        rendered[name] = Path(path)
    known = known_settings(root)
    if known:
        print(f"validate: {len(known)} LIVEROOM_* settings known from src/config.rs")
    k8s(root, rendered, args.k8s_versions.split(), known)
    compose(root, args.compose_schema or None, known)
    dashboard(root)
    files = dockerfile(root)
    docker_build_context(root, files, Path(args.out) if args.out else None, args.build)
    if args.counts:
        Path(args.counts).write_text("{passed} {failed} {skipped}\n".format(**COUNTS))
    return 1 if COUNTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
