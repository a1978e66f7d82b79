"""The ``edgekit bench`` report as text, and a report compared with a saved one (``--compare``).

A report is the ``edgekit.bench/1`` dict that :func:`edgekit._tools.bench.run_bench`
returns (and ``--json`` prints): ``env`` and one row per configuration.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .bench import SCHEMA

__all__ = ["compare", "render", "render_compare", "row_key"]


def row_key(row: dict[str, Any]) -> str:
    """How rows are matched between two reports."""
    threads = row.get("threads") or "default"
    pipe = row.get("pipeline") or {}
    delegate = row.get("delegate") or "xnnpack"
    key = f"{row.get('name')}|{row.get('backend')}|{threads}"
    key += "" if delegate == "xnnpack" else f"|{delegate}"  # keys of reports saved before delegates
    return key + (f"|{pipe['source']}" if pipe else "")


def compare(current: dict[str, Any], saved: dict[str, Any]) -> dict[str, Any]:
    """Ratios (now / saved) of p50 latency, init time and peak RSS per matching row."""
    if saved.get("schema") != SCHEMA:
        raise ConfigError(f"the saved report is not an {SCHEMA} report (schema {saved.get('schema')!r})")
    old = {row_key(r): r for r in saved.get("results", []) if not r.get("error")}
    rows = []
    for row in current["results"]:
        before = old.get(row_key(row))
        if before is None or row.get("error"):
            rows.append({"key": row_key(row), "status": "error" if row.get("error") else "new"})
            continue
        entry: dict[str, Any] = {"key": row_key(row), "status": "compared"}
        for label, get in (("p50_ms", lambda r: r["latency_ms"]["p50"]), ("init_ms", lambda r: r["init_ms"]),
                           ("rss_peak_mb", lambda r: (r.get("rss_mb") or {}).get("peak")),
                           ("ips", lambda r: (r.get("throughput") or {}).get("ips")),
                           ("joules", lambda r: (r.get("energy") or {}).get("joules_per_inference"))):
            a, b = get(row), get(before)
            entry[label] = {"now": a, "saved": b, "ratio": round(a / b, 4) if a and b else None}
        ratio = entry["p50_ms"]["ratio"] or 1.0
        entry["verdict"] = "faster" if ratio < 0.95 else "slower" if ratio > 1.05 else "same"
        rows.append(entry)
    missing = sorted(set(old) - {row_key(r) for r in current["results"]})
    changed = {k: {"saved": saved["env"].get(k), "now": current["env"].get(k)}
               for k in ("device", "backends", "numpy", "edgekit", "cpu_count")
               if saved.get("env", {}).get(k) != current["env"].get(k)}
    return {"saved_created": saved.get("created"), "rows": rows, "missing": missing, "env_changed": changed}


# -- text output ----------------------------------------------------------------------
_COLUMNS = ("model", "prec", "backend", "delegate", "thr", "init", "first", "min", "p50", "p90", "p99", "max",
            "std", "runs", "inf/s", "/core", "J/inf", "RSS init/peak MB", "°C")
_LEFT = 5  # the first columns are text


def _cells(row: dict[str, Any]) -> list[str]:
    lat = row["latency_ms"]
    rss = row.get("rss_mb") or {}
    after = (row.get("thermal") or {}).get("after") or {}
    temp = f"{after['temp_c']:.0f}" if "temp_c" in after else "-"
    if after.get("throttled"):
        temp += " " + ",".join(after["throttled"])
    rate = row.get("throughput") or {}
    joules = (row.get("energy") or {}).get("joules_per_inference")
    return [row["name"], row.get("precision", "?"), row.get("backend") or "?", row.get("delegate") or "xnnpack",
            str(row.get("threads") or "def"), f"{row['init_ms']:.0f}", f"{row['first_ms']:.1f}",
            *(f"{lat[k]:.2f}" for k in ("min", "p50", "p90", "p99", "max", "std")), str(row["runs"]),
            f"{rate['ips']:.1f}" if rate else "-", f"{rate['per_core']:.1f}" if rate else "-",
            f"{joules:.3g}" if joules else "-",
            f"{rss.get('init') or 0:.0f}/{rss.get('peak') or 0:.0f}", temp]


def render(report: dict[str, Any]) -> str:
    """The report as a table (latencies in ms), then warnings, pipeline numbers and errors."""
    env = report["env"]
    dev = env["device"]
    fallback = "" if dev["detected"] else ", not detected: fallback"
    lines = [(f"device   {dev['title']} ({dev['name']}{fallback})"
              f"  cpus={env['cpu_count']}  {env['host'].get('cpu') or env['machine']}"),
             "versions edgekit " + env["edgekit"] + f", python {env['python']}, numpy {env['numpy']}, "
             + ", ".join(f"{k} {v}" for k, v in env["backends"].items())]
    if env.get("thermal"):
        t = env["thermal"]
        lines.append(f"thermal  {t.get('temp_c', '?')} °C" + (f", throttled: {', '.join(t['throttled'])}"
                                                               if t.get("throttled") else ""))
    ok = [r for r in report["results"] if not r.get("error")]
    table = [list(_COLUMNS)] + [_cells(r) for r in ok]
    widths = [max(len(r[i]) for r in table) for i in range(len(_COLUMNS))]
    for i, cells in enumerate(table):
        lines.append("  ".join(c.ljust(w) if j < _LEFT else c.rjust(w)
                               for j, (c, w) in enumerate(zip(cells, widths))))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.extend(_cost_lines(report, ok))
    seen: set[tuple[str, str]] = set()
    for r in report["results"]:
        pipe = r.get("pipeline")
        if pipe and "fps" in pipe:
            lines.append(f"pipeline {r['name']} via {pipe['source']}: {pipe['fps']:.1f} FPS, frame age p50 "
                         f"{pipe['age_ms']['p50']:.1f} ms, total p50 {pipe['total_ms']['p50']:.1f} ms, "
                         f"{pipe['dropped']} dropped of {pipe['frames']} frames")
        elif pipe:
            lines.append(f"pipeline {r['name']} via {pipe['source']}: {pipe.get('error')}")
        if r.get("precision") == "dynamic" and not r.get("error"):
            lines.append(_dynamic_line(r, ok))
        for w in r.get("warnings") or []:
            if (r["name"], w) not in seen:
                seen.add((r["name"], w))
                lines.append(f"warning  {r['name']}: {w}")
        if r.get("error"):
            lines.append(f"error    {r['name']} ({r.get('backend') or 'default'}): {r['error']}")
    return "\n".join(lines)


def _cost_lines(report: dict[str, Any], ok: list[dict[str, Any]]) -> list[str]:
    """Throughput at the best configuration per model, and what a million inferences cost."""
    lines: list[str] = []
    best: dict[str, dict[str, Any]] = {}
    for r in ok:
        if (r.get("throughput") or {}).get("ips") and \
                r["throughput"]["ips"] > (best.get(r["name"], {}).get("throughput") or {}).get("ips", 0):
            best[r["name"]] = r
    for name, r in best.items():
        rate, energy = r["throughput"], r.get("energy") or {}
        text = (f"best     {name}: {rate['ips']:.1f} inferences/s ({rate['per_core']:.1f} per core; "
                f"{rate['interpreters']} interpreter(s) × {rate['threads']} thread(s), "
                f"{r.get('delegate') or 'xnnpack'})")
        if "joules_per_inference" in energy:
            text += (f"; {energy['joules_per_inference']:.3g} J each, {energy['wh_per_million']:.3g} Wh per million"
                     + (f", {energy['cost_per_million']:.3g} per million at {energy['price_kwh']:g}/kWh"
                        if energy.get("cost_per_million") is not None else ""))
        elif energy.get("error"):
            text += f"; energy: {energy['error']}"
        lines.append(text)
    lines.extend(_side_by_side(ok))
    source = next((r["energy"]["source"] for r in ok if (r.get("energy") or {}).get("source")), None)
    if source:
        lines.append(f"power    {source} (an estimate at full load, not measured here)")
    return lines


def _label(row: dict[str, Any]) -> str:
    return (f"{row['name']} ({row.get('precision', '?')}, {row.get('delegate') or 'xnnpack'}, "
            f"{row.get('threads') or 'def'} thr)")


def _side_by_side(ok: list[dict[str, Any]]) -> list[str]:
    """Every measured configuration against the first: throughput and energy per inference."""
    rated = [r for r in ok if (r.get("throughput") or {}).get("ips")]
    if len(rated) < 2:
        return []
    base = rated[0]
    lines = [f"versus   {_label(base)}:"]
    for r in rated[1:]:
        text = f"         {_label(r)}: {r['throughput']['ips'] / base['throughput']['ips']:.2f}× the throughput"
        a, b = (r.get("energy") or {}).get("joules_per_inference"), \
            (base.get("energy") or {}).get("joules_per_inference")
        if a and b:
            text += f", {a / b:.2f}× the energy per inference"
        lines.append(text)
    return lines


def _dynamic_line(row: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """What was measured of a weights-only int8 model: its p50 over its float32 variant's, if benched."""
    kind = "weights-only int8 (dynamic-range quantized: int8 weights, float activations)"
    twin = _float32_twin(row, rows)
    if twin is None:
        return f"note     {row['name']}: {kind}; bench its float32 variant beside it to compare"
    ratio = row["latency_ms"]["p50"] / twin["latency_ms"]["p50"]
    label = "warning " if ratio > 1.05 else "note    "
    return f"{label} {row['name']}: {kind}: p50 is {ratio:.2f}× its float32 variant's here ({twin['name']})"


def _float32_twin(row: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The float32 row of the same model measured in this run (same backend and threads)."""
    name = row["name"]
    names = {name.replace(tag, "_float32") for tag in ("_dynamic_range_quant", "_dynamic", "_w8a32")
             if tag in name}
    names.add(name.replace("_w8a32", ""))  # Ultralytics: yolo11n.tflite beside yolo11n_w8a32.tflite
    for other in rows:
        if other["name"] in names - {name} and other.get("precision") == "float32" \
                and other.get("backend") == row.get("backend") and other.get("threads") == row.get("threads"):
            return other
    return None


def render_compare(result: dict[str, Any]) -> str:
    """The ``--compare`` report: one line per configuration with the now/saved ratios."""
    lines = ["compare  configuration                         p50 saved → now     ratio   verdict   J/inf ratio"]
    for row in result["rows"]:
        if row["status"] != "compared":
            lines.append(f"         {row['key']:<36}  {row['status']}")
            continue
        p = row["p50_ms"]
        joules = (row.get("joules") or {}).get("ratio")
        lines.append(f"         {row['key']:<36}  {p['saved']:8.2f} → {p['now']:8.2f}  "
                     f"{p['ratio']:6.3f}×  {row['verdict']:<8}" + (f"  {joules:6.3f}×" if joules else ""))
    for key in result["missing"]:
        lines.append(f"         {key:<36}  not measured now")
    for key, change in result["env_changed"].items():
        lines.append(f"changed  {key}: {change['saved']} → {change['now']}")
    return "\n".join(lines)
