// The function view's two charts: invocation records bucketed per 30 s, drawn as SVG.

const SVG_NS = "http://www.w3.org/2000/svg";

/** Records of the last `count` buckets of `width` ms, with p50/p99 (ms), calls and errors. */
export function bucketize(records, now, isError, width = 30_000, count = 30) {
  const buckets = Array.from({ length: count }, (_, i) => ({ t: now - (count - i) * width, d: [], errors: 0 }));
  for (const r of records) {
    const i = Math.floor((r.started_at - (now - count * width)) / width);
    if (i < 0 || i >= count) continue;
    buckets[i].d.push(r.duration_us);
    if (isError(r)) buckets[i].errors++;
  }
  return buckets.map((b) => {
    const d = b.d.sort((x, y) => x - y);
    const q = (p) => (d.length ? d[Math.round((d.length - 1) * p)] / 1000 : null);
    return { t: b.t, calls: d.length, errors: b.errors, p50: q(0.5), p99: q(0.99) };
  });
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

/** Draws `series` (`{ key, name, cls, bars?, offset? }`) of `buckets` into the SVG `target`. */
export function drawChart(target, buckets, series) {
  const W = 600, H = 160, P = 28;
  const max = Math.max(1e-9, ...buckets.flatMap((b) => series.map((s) => b[s.key] ?? 0)));
  const x = (i) => P + (i * (W - 2 * P)) / Math.max(1, buckets.length - 1);
  const y = (v) => H - P - (v / max) * (H - 2 * P);
  const label = (lx, ly, text, anchor = "start") =>
    Object.assign(svg("text", { x: lx, y: ly, class: "label", "text-anchor": anchor }), { textContent: text });
  target.replaceChildren(
    svg("line", { x1: P, y1: H - P, x2: W - P, y2: H - P, class: "axis" }),
    svg("line", { x1: P, y1: P, x2: W - P, y2: P, class: "grid" }),
    label(W - P, P - 4, `max ${Number(max.toPrecision(3))}`, "end"),
    label(P, H - 8, "−15 min"),
    label(W - P, H - 8, "now", "end"),
  );
  for (const s of series) {
    const points = buckets.map((b, i) => [i, b[s.key]]).filter(([, v]) => v != null);
    if (s.bars) {
      for (const [i, v] of points) {
        target.append(svg("rect", { x: x(i) - 4 + s.offset, y: y(v), width: 6, height: H - P - y(v), class: s.cls, "data-value": v }));
      }
    } else if (points.length) {
      const d = points.map(([i, v], k) => `${k ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
      target.append(svg("path", { d, class: s.cls }));
      for (const [i, v] of points) target.append(svg("circle", { cx: x(i), cy: y(v), r: 2.5, class: s.cls, "data-value": v }));
    }
  }
  let lx = P;
  for (const s of series) {
    target.append(svg("rect", { x: lx, y: 6, width: 12, height: 12, class: `key ${s.cls}` }));
    target.append(label(lx + 18, 17, s.name));
    lx += 100;
  }
}
