#!/usr/bin/env python3
"""Checks of the deployment recipes that schemas cannot make (scripts/check-deploy.sh).

  check-deploy.py kubernetes FLINT_YAML PODMONITOR_YAML
      Pod Security "restricted" fields, the cache limit inside the volume inside the
      ephemeral-storage limit, a grace period that covers the shutdown delay and drain, the
      PodMonitor scraping a port the pod has.
  check-deploy.py syscalls UNIT STRACE_FILE
      Every system call in the trace is allowed by the unit's SystemCallFilter (expanded
      with `systemd-analyze syscall-filter`), and no mapping is writable and executable or
      made executable later (MemoryDenyWriteExecute).
"""
import re
import subprocess
import sys

import yaml

UNITS = {"": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


def size(text):
    m = re.fullmatch(r"(\d+)([A-Za-z]*)", str(text))
    return int(m.group(1)) * UNITS[m.group(2)]


def kubernetes(flint_yaml, podmonitor_yaml):
    docs = {d["kind"]: d for d in yaml.safe_load_all(open(flint_yaml)) if d}
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    problems = []
    ns = docs["Namespace"]["metadata"]["labels"]
    if ns.get("pod-security.kubernetes.io/enforce") != "restricted":
        problems.append("the namespace does not enforce Pod Security 'restricted'")
    psc = pod["securityContext"]
    if not psc.get("runAsNonRoot") or psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append("pod securityContext: runAsNonRoot and seccompProfile RuntimeDefault")
    if any("hostPath" in v for v in pod.get("volumes", [])):
        problems.append("a hostPath volume (restricted forbids it)")
    (c,) = pod["containers"]
    sc = c["securityContext"]
    if sc.get("allowPrivilegeEscalation") is not False or sc.get("capabilities", {}).get("drop") != ["ALL"]:
        problems.append("container securityContext: allowPrivilegeEscalation false, drop ALL")
    if sc.get("privileged"):
        problems.append("a privileged container")
    env = {e["name"]: e.get("value") for e in c["env"]}
    cache = size(env["FLINT_CACHE_MAX_BYTES"])
    (data,) = [v for v in pod["volumes"] if v["name"] == "data"]
    volume = size(data["emptyDir"]["sizeLimit"])
    storage = size(c["resources"]["limits"]["ephemeral-storage"])
    if not cache < volume <= storage:
        problems.append(f"cache limit {cache} < data volume {volume} <= ephemeral-storage {storage} fails")
    stop = int(env["FLINT_SHUTDOWN_DELAY_S"]) + int(env["FLINT_SHUTDOWN_GRACE_S"])
    if pod["terminationGracePeriodSeconds"] <= stop:
        problems.append(f"terminationGracePeriodSeconds must exceed delay + grace ({stop} s)")
    if not any(k.endswith("/kvm") for k in c["resources"]["limits"]):
        problems.append("no KVM device resource")
    if "podAntiAffinity" not in pod.get("affinity", {}):
        problems.append("no pod anti-affinity")
    ports = {p["name"] for p in c["ports"]}
    for doc in yaml.safe_load_all(open(podmonitor_yaml)):
        for ep in doc["spec"]["podMetricsEndpoints"]:
            if ep["port"] not in ports:
                problems.append(f"the PodMonitor scrapes port {ep['port']!r}, which the pod lacks")
        if doc["spec"]["selector"] != docs["Deployment"]["spec"]["selector"]:
            problems.append("the PodMonitor selects other pods than the Deployment")
    return problems


def syscall_groups():
    """Group name -> members, from `systemd-analyze syscall-filter`."""
    out = subprocess.run(["systemd-analyze", "syscall-filter"], check=True,
                         capture_output=True, text=True).stdout
    groups, current = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), set())
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.add(line.strip())
    return groups


def expand(names, groups, seen=None):
    seen = set() if seen is None else seen
    out = set()
    for n in names:
        if n.startswith("@"):
            if n not in seen:
                seen.add(n)
                out |= expand(groups[n], groups, seen)
        else:
            out.add(n)
    return out


def allowed_syscalls(unit):
    groups = syscall_groups()
    allowed = set()
    for line in open(unit):
        m = re.match(r"SystemCallFilter=(~?)(.*)", line.strip())
        if not m:
            continue
        names = expand(m.group(2).split(), groups)
        allowed = allowed - names if m.group(1) else allowed | names
    return allowed


def syscalls(unit, trace):
    allowed = allowed_syscalls(unit)
    used, problems = set(), []
    call = re.compile(r"^(?:\[pid\s+\d+\]\s+|\d+\s+)?(\w+)\(")
    guest_runs = 0
    for line in open(trace, errors="replace"):
        guest_runs += "KVM_RUN" in line
        m = call.match(line)
        if not m:
            continue
        name = m.group(1)
        used.add(name)
        if name in ("mmap", "mprotect", "pkey_mprotect") and "PROT_EXEC" in line:
            writable = "PROT_WRITE" in line
            if writable or name != "mmap":
                problems.append(f"MemoryDenyWriteExecute would refuse: {line.strip()}")
    if guest_runs < 100:
        problems.append(f"only {guest_runs} KVM_RUN calls traced: the workload did not run guests")
    for name in sorted(used - allowed):
        problems.append(f"system call {name} is used but SystemCallFilter does not allow it")
    print(f"{len(used)} distinct system calls traced ({guest_runs} KVM_RUN), "
          f"checked against {len(allowed)} allowed")
    return problems


def main():
    what, *args = sys.argv[1:]
    problems = {"kubernetes": kubernetes, "syscalls": syscalls}[what](*args)
    for p in problems:
        print(f"FAILED: {p}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
