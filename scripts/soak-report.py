#!/usr/bin/env python3
"""Checks and plots a soak run (scripts/soak.sh): CSV, final /metrics text, SVG out.

Fails (exit 1) when, after the warm-up round, memory or fds grow, latency drifts, a socket
error happened, or a function ended in a way it must not.
"""
import csv
import re
import statistics
import sys

EXPECTED = {
    "hello": {"ok"},
    "kv": {"ok"},
    "bomb": {"ok"},
    "trap": {"trap"},
    "loop": {"timeout"},
    "bigout": {"output_too_large"},
}


def check(rows, metrics_text):
    failures = []
    steady = rows[1:]  # round 1 is the warm-up
    first = steady[0]
    half = len(steady) // 2
    # Medians of the first and the second half: a leak moves both, one busy sample neither.
    for key in ("pss_kib", "rss_kib"):
        early = statistics.median(r[key] for r in steady[: max(half, 1)])
        late = statistics.median(r[key] for r in steady[half:])
        allowed = max(16 * 1024, early // 10)
        if late - early > allowed:
            failures.append(f"{key} grew from {early} to {late} KiB after warm-up (allowed {allowed})")
    for key, slack in (("fds", 16), ("threads", 8)):
        grew = max(r[key] for r in steady) - first[key]
        if grew > slack:
            failures.append(f"{key} grew by {grew} after warm-up (allowed {slack})")
    for key in ("p50_ms", "p99_ms"):
        early = statistics.median(r[key] for r in steady[: max(half, 1)])
        late = statistics.median(r[key] for r in steady[half:])
        if late > 2 * early + 5:
            failures.append(f"{key} drifted from {early} to {late}")
    errors = sum(r["socket_errors"] for r in rows)
    if errors:
        failures.append(f"{errors} socket errors")
    pattern = re.compile(r'^flint_invocations_total\{function="([^"]+)",outcome="([^"]+)"\} (\S+)$')
    seen = {}
    for line in metrics_text.splitlines():
        m = pattern.match(line)
        if m and float(m.group(3)) > 0:
            seen.setdefault(m.group(1), {})[m.group(2)] = int(float(m.group(3)))
    for function, allowed_outcomes in EXPECTED.items():
        outcomes = seen.get(function, {})
        if not outcomes:
            failures.append(f"{function} never ran")
        wrong = {o: n for o, n in outcomes.items() if o not in allowed_outcomes}
        if wrong:
            failures.append(f"{function} ended {wrong} (expected only {sorted(allowed_outcomes)})")
    return failures, seen


LABELS = {"pss_kib": "PSS", "rss_kib": "RSS", "p50_ms": "p50", "p99_ms": "p99"}


def chart(rows, series, title, unit, top):
    """One panel: a polyline per (key, colour, scale) in series, 600x150 at y offset top."""
    w, h, left = 600, 150, 60
    xs = [r["round"] for r in rows]
    values = [v * scale for key, _, scale in series for v in (r[key] for r in rows)]
    hi = max(values) * 1.1 or 1
    out = [f'<text x="{left}" y="{top - 6}" font-size="13">{title}</text>',
           f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#999"/>',
           f'<text x="{left - 4}" y="{top + 10}" font-size="10" text-anchor="end">{hi:.0f} {unit}</text>',
           f'<text x="{left - 4}" y="{top + h}" font-size="10" text-anchor="end">0</text>']
    span = max(xs[-1] - xs[0], 1)
    for i, (key, colour, scale) in enumerate(series):
        pts = " ".join(
            f"{left + (r['round'] - xs[0]) * w / span:.1f},{top + h - r[key] * scale * h / hi:.1f}"
            for r in rows)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{left + w + 8}" y="{top + 14 + 14 * i}" font-size="11" fill="{colour}">{LABELS.get(key, key)}</text>')
    return out


def plot(rows, path):
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="760" height="640" font-family="sans-serif">',
             '<rect width="100%" height="100%" fill="white"/>']
    parts += chart(rows, [("pss_kib", "#1f77b4", 1 / 1024), ("rss_kib", "#aec7e8", 1 / 1024)],
                   "Server memory per round (MiB)", "MiB", 30)
    parts += chart(rows, [("fds", "#2ca02c", 1), ("threads", "#98df8a", 1), ("sandboxes", "#9467bd", 1)],
                   "Open fds, threads, sandboxes", "", 240)
    parts += chart(rows, [("p50_ms", "#ff7f0e", 1), ("p99_ms", "#d62728", 1)],
                   f"Client latency per round (ms); rounds 1-{rows[-1]['round']} of "
                   f"{rows[0]['seconds']} s", "ms", 450)
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def main():
    csv_path, metrics_path, svg_path = sys.argv[1:4]
    with open(csv_path) as f:
        rows = [{k: (float(v) if "." in v else int(v)) for k, v in r.items()} for r in csv.DictReader(f)]
    with open(metrics_path) as f:
        metrics_text = f.read()
    plot(rows, svg_path)
    failures, seen = check(rows, metrics_text)
    total = sum(r["requests"] for r in rows)
    print(f"soak: {len(rows)} rounds, {total} requests; outcomes {seen}")
    print(f"soak: PSS {rows[1]['pss_kib'] // 1024} -> {rows[-1]['pss_kib'] // 1024} MiB, "
          f"fds {rows[1]['fds']} -> {rows[-1]['fds']}, p99 {rows[1]['p99_ms']} -> {rows[-1]['p99_ms']} ms")
    for failure in failures:
        print(f"soak FAILED: {failure}", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
