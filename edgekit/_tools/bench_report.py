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
    return f"{row.get('name')}|{row.get('backend')}|{threads}" + (f"|{pipe['source']}" if pipe else "")


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
                           ("rss_peak_mb", lambda r: (r.get("rss_mb") or {}).get("peak"))):
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
_COLUMNS = ("model", "prec", "backend", "thr", "init", "first", "min", "p50", "p90", "p99", "max",
            "std", "runs", "RSS init/peak MB", "°C")


def _cells(row: dict[str, Any]) -> list[str]:
    lat = row["latency_ms"]
    rss = row.get("rss_mb") or {}
    after = (row.get("thermal") or {}).get("after") or {}
    temp = f"{after['temp_c']:.0f}" if "temp_c" in after else "-"
    if after.get("throttled"):
        temp += " " + ",".join(after["throttled"])
    return [row["name"], row.get("precision", "?"), row.get("backend") or "?",
            str(row.get("threads") or "def"), f"{row['init_ms']:.0f}", f"{row['first_ms']:.1f}",
            *(f"{lat[k]:.2f}" for k in ("min", "p50", "p90", "p99", "max", "std")), str(row["runs"]),
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
        lines.append("  ".join(c.ljust(w) if j < 4 else c.rjust(w) for j, (c, w) in enumerate(zip(cells, widths))))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
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
    lines = ["compare  configuration                         p50 saved → now     ratio   verdict"]
    for row in result["rows"]:
        if row["status"] != "compared":
            lines.append(f"         {row['key']:<36}  {row['status']}")
            continue
        p = row["p50_ms"]
        lines.append(f"         {row['key']:<36}  {p['saved']:8.2f} → {p['now']:8.2f}  "
                     f"{p['ratio']:6.3f}×  {row['verdict']}")
    for key in result["missing"]:
        lines.append(f"         {key:<36}  not measured now")
    for key, change in result["env_changed"].items():
        lines.append(f"changed  {key}: {change['saved']} → {change['now']}")
    return "\n".join(lines)
