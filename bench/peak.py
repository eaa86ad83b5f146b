"""Runs a command and prints what it cost, as one tab-separated line:
wall seconds, CPU seconds (user + system, the command and its children),
peak RSS in MiB (the kernel's high-water mark of the largest process) and
peak anonymous RSS in MiB (RssAnon of the command's own process, sampled
every 10 ms: its heap and stacks, without the pages of its program file).

    python3 bench/peak.py CMD ARGS...   # the command's output goes to /dev/null
    PEAK_OUT=FILE python3 bench/peak.py CMD ARGS...   # or to FILE

A command that fails makes this exit with its status, its stderr shown."""
import os
import resource
import subprocess
import sys
import tempfile
import time


def anon_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


errors = tempfile.TemporaryFile()
# What children reaped before (a launcher's) is not the command's.
before = resource.getrusage(resource.RUSAGE_CHILDREN)
start = time.perf_counter()
out = open(os.environ["PEAK_OUT"], "wb") if os.environ.get("PEAK_OUT") else subprocess.DEVNULL
p = subprocess.Popen(sys.argv[1:], stdout=out, stderr=errors)
peak_anon = 0
while p.poll() is None:
    peak_anon = max(peak_anon, anon_kib(p.pid))
    time.sleep(0.01)
wall = time.perf_counter() - start
if p.returncode != 0:
    errors.seek(0)
    sys.stderr.write(errors.read().decode(errors="replace"))
    sys.exit(p.returncode or 1)
# Popen reaped the one child: its use (and its children's) is all there is.
r = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = r.ru_utime + r.ru_stime - before.ru_utime - before.ru_stime
print(f"{wall:.3f}\t{cpu:.3f}\t{r.ru_maxrss / 1024:.0f}\t{peak_anon / 1024:.0f}")
