#!/usr/bin/env python3
"""Turn bench.sh's raw per-tool outputs into a table and a JSON file.

  report.py --brief TOOLDIR                 one line for one tool (printed during the run)
  report.py RAWDIR OUT.json TOOL [TOOL...]  table + ratios on stdout, results into OUT.json
"""
import datetime
import json
import os
import platform
import re
import sys


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def iperf(d, tag):
    text = read(os.path.join(d, tag + ".json"))
    if not text:
        return None
    try:
        j = json.loads(text)
    except ValueError:
        return None
    if "error" in j:
        return {"error": j["error"]}
    end = j.get("end", {})
    if tag == "udp":
        s = end.get("sum", {})
        secs = s.get("seconds") or 0
        if not secs:
            return None
        pk, lost = s.get("packets", 0), s.get("lost_packets", 0)
        return {"sent_pps": pk / secs, "received_pps": (pk - lost) / secs,
                "lost_percent": s.get("lost_percent")}
    r = end.get("sum_received", {})
    return {"mbit_s": r.get("bits_per_second", 0) / 1e6, "bytes": r.get("bytes", 0),
            "retransmits": end.get("sum_sent", {}).get("retransmits")}


def tool_result(d):
    skipped = read(os.path.join(d, "skipped"))
    if skipped is not None:
        return {"skipped": skipped.strip()}
    res = {}
    ping = read(os.path.join(d, "ping.txt")) or ""
    m = re.search(r"= [\d.]+/([\d.]+)/([\d.]+)/([\d.]+) ms", ping)
    rx = re.search(r"(\d+) received", ping)
    times = sorted(float(t) for t in re.findall(r"time=([\d.]+) ms", ping))
    res["ping"] = {"avg_ms": float(m.group(1)) if m else None,
                   "p50_ms": times[len(times) // 2] if times else None,
                   "max_ms": float(m.group(2)) if m else None,
                   "received_of_50": int(rx.group(1)) if rx else 0}
    res["tcp_1_stream"] = iperf(d, "tcp1")
    res["tcp_4_streams"] = iperf(d, "tcp4")
    res["udp_64b"] = iperf(d, "udp")
    cpu = read(os.path.join(d, "cpu_ticks"))
    t1 = res["tcp_1_stream"] or {}
    if cpu and t1.get("bytes"):
        ticks, hz = (int(x) for x in cpu.split())
        res["cpu_s_per_gb"] = (ticks / hz) / (t1["bytes"] / 1e9)
    for k in ("rss_idle_kb", "rss_load_kb"):
        v = read(os.path.join(d, k))
        if v and v.strip():
            res[k.replace("_kb", "_mb")] = int(v) / 1024
    la = read(os.path.join(d, "loadavg"))
    res["loadavg_before"] = float(la) if la else None
    return res


def metrics(r):
    """The headline numbers of one tool, None where missing."""
    def g(*path):
        v = r
        for p in path:
            if not isinstance(v, dict):
                return None
            v = v.get(p)
        return v
    return {"tcp1_mbit_s": g("tcp_1_stream", "mbit_s"), "tcp4_mbit_s": g("tcp_4_streams", "mbit_s"),
            "udp_rx_kpps": (g("udp_64b", "received_pps") or 0) / 1e3 or None,
            "rtt_avg_ms": g("ping", "avg_ms"), "rtt_p50_ms": g("ping", "p50_ms"),
            "cpu_s_per_gb": g("cpu_s_per_gb"),
            "rss_idle_mb": g("rss_idle_mb"), "rss_load_mb": g("rss_load_mb")}


COLS = [("tcp1_mbit_s", "TCP x1 Mbit/s", "{:.0f}"), ("tcp4_mbit_s", "TCP x4 Mbit/s", "{:.0f}"),
        ("udp_rx_kpps", "UDP64 rx kpps", "{:.1f}"), ("rtt_avg_ms", "RTT avg ms", "{:.3f}"),
        ("rtt_p50_ms", "RTT p50 ms", "{:.3f}"),
        ("cpu_s_per_gb", "CPU s/GB", "{:.2f}"), ("rss_idle_mb", "RSS idle MB", "{:.1f}"),
        ("rss_load_mb", "RSS load MB", "{:.1f}")]


def fmt(v, f):
    return "-" if v is None else f.format(v)


def brief(d):
    m = metrics(tool_result(d))
    print("  " + ", ".join(f"{label} {fmt(m[k], f)}" for k, label, f in COLS))


def main():
    if sys.argv[1] == "--brief":
        return brief(sys.argv[2])
    raw, out, tools = sys.argv[1], sys.argv[2], sys.argv[3:]
    results = {t: tool_result(os.path.join(raw, t)) for t in tools}
    table = {t: metrics(r) for t, r in results.items() if "skipped" not in r}
    ratios = {}
    for other in ("openvpn", "wireguard-go", "vpnpeer-nooffload", "vpnpeer-udp-offloads",
                  "vpnpeer-tun-offloads"):
        if "vpnpeer" in table and other in table:
            ratios[f"vpnpeer/{other}"] = {
                k: (table["vpnpeer"][k] / table[other][k]
                    if table["vpnpeer"][k] is not None and table[other][k] else None)
                for k, _, _ in COLS}

    lw, w = 22, 13
    print("\n" + "tool".ljust(lw) + "".join(label.rjust(w + 1) for _, label, _ in COLS))
    for t in tools:
        if t in table:
            print(t.ljust(lw) + "".join(fmt(table[t][k], f).rjust(w + 1) for k, _, f in COLS))
        else:
            print(t.ljust(lw) + "  skipped: " + results[t]["skipped"])
    for name, r in ratios.items():
        print(name.ljust(lw) + "".join(fmt(r[k], "{:.2f}x").rjust(w + 1) for k, _, _ in COLS))
    if not ratios:
        print("(ratios need vpnpeer and openvpn / wireguard-go results)")
    print("Machine load (1-min loadavg) before each tool: " + ", ".join(
        f"{t} {results[t].get('loadavg_before')}" for t in tools if "skipped" not in results[t]))
    print("CPU s/GB: user+system seconds of the tunnel processes at BOTH ends during the 1-stream "
          "run, per GB received. RSS: client-side process.")

    doc = {"version": 1, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
           "host": {"kernel": platform.release(), "cpus": os.cpu_count()},
           "config": {"secs": int(os.environ.get("BENCH_SECS", "10")), "inner_mtu": 1400,
                      "underlay": "veth, MTU 1500, two network namespaces"},
           "tools": results, "summary": table, "ratios": ratios}
    with open(out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
