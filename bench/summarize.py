"""Summarises bench/compare.sh's measurements: per workload, each tool's
median wall time, its ratio to the fastest peer (the aws CLI, rclone,
s3cmd; not s3flow's own rows, not the "limit:" references), its median
CPU time (user + system) and its peak RSS (total, and anonymous: RssAnon,
the heap without the program's own pages)."""
import collections
import platform
import statistics
import subprocess
import sys

tsv, md = sys.argv[1], sys.argv[2]
rows = collections.defaultdict(lambda: collections.defaultdict(list))
rss = collections.defaultdict(lambda: collections.defaultdict(int))
anon = collections.defaultdict(lambda: collections.defaultdict(int))
cpus = collections.defaultdict(lambda: collections.defaultdict(list))
order = []
with open(tsv) as f:
    next(f)
    for line in f:
        fields = line.rstrip("\n").split("\t")
        workload, tool, _, secs, mib = fields[:5]
        if len(fields) >= 7:
            cpus[workload][tool].append(float(fields[5]))
            anon[workload][tool] = max(anon[workload][tool], int(fields[6]))
        if workload not in order:
            order.append(workload)
        rows[workload][tool].append(float(secs))
        rss[workload][tool] = max(rss[workload][tool], int(mib))


def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except Exception:
        return "?"


def fmt(secs):
    return f"{secs * 1000:.1f} ms" if secs < 1 else f"{secs:.2f} s"


out = []
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
import os
out.append(f"Machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}; "
           f"{version(['/usr/bin/aws', '--version'])}; {version(['rclone', '--version'])}; "
           f"s3cmd {version(['s3cmd', '--version'])}.\n")
for w in order:
    tools = rows[w]
    meds = {t: statistics.median(v) for t, v in tools.items()}
    peers = {t: m for t, m in meds.items() if not t.startswith(("s3flow", "limit:"))}
    fastest = min(peers.values()) if peers else None
    out.append(f"\n### {w}\n")
    out.append("| tool | median | runs | vs fastest peer | CPU | peak RSS | anonymous |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for t in sorted(meds, key=meds.get):
        ratio = f"{meds[t] / fastest:.2f}x" if fastest else "-"
        mem = f"{rss[w][t]} MiB" if rss[w][t] else "-"
        cpu = fmt(statistics.median(cpus[w][t])) if cpus[w][t] and max(cpus[w][t]) > 0 else "-"
        am = f"{anon[w][t]} MiB" if anon[w][t] else "-"
        out.append(f"| {t} | {fmt(meds[t])} | {len(tools[t])} | {ratio} | {cpu} | {mem} | {am} |")
text = "\n".join(out) + "\n"
open(md, "w").write(text)
print(text)
