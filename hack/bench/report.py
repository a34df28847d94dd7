#!/usr/bin/env python3
"""Render make bench's results (hack/bench/run.sh) as one table.

usage: report.py RESULTS_DIR OUT_DIR

Reads the hyperfine JSON exports, Go benchmark output, wrk output and the
footprint samples in RESULTS_DIR; prints one Markdown table of medians,
spreads (min-max over the runs) and ratios, and writes it to
OUT_DIR/results.md together with OUT_DIR/results.json.
"""
import datetime
import glob
import json
import os
import re
import statistics
import sys

res, out = sys.argv[1], sys.argv[2]
W = os.path.dirname(res.rstrip("/"))


def path(name):
    return os.path.join(res, name)


def exists(name):
    return os.path.exists(path(name))


def read(name):
    with open(path(name)) as f:
        return f.read().strip()


IN = read("in.txt") if exists("in.txt") else None
SERVER = read("server.txt") if exists("server.txt") else None


def short(cmd):
    """The command as a reader can rerun it: sandbox prefixes abbreviated."""
    if IN:
        cmd = cmd.replace(IN, "chroot $SANDBOX")
    if SERVER:
        cmd = cmd.replace(SERVER, "$AGENT")
    cmd = cmd.replace(W, "$W")
    cmd = re.sub(r"\S*/bin/patchctl", "patchctl", cmd)
    cmd = cmd.replace(" >/dev/null", "")
    return cmd


def fmt_t(s):
    """Seconds, in a readable unit."""
    if s is None:
        return "n/a"
    if s >= 1:
        return "%.2f s" % s
    if s >= 1e-3:
        return "%.1f ms" % (s * 1e3)
    return "%.0f µs" % (s * 1e6)


def hf(name, index=0):
    """(median, min, max, runs, command) of one hyperfine export."""
    if not exists(name + ".json"):
        return None
    r = json.load(open(path(name + ".json")))["results"][index]
    return dict(median=r["median"], min=r["min"], max=r["max"], runs=len(r["times"]), cmd=short(r["command"]), times=r["times"])


def gobench(name, metric):
    """Values of one metric over the -count runs of a Go benchmark."""
    if not exists(name):
        return []
    vals = []
    for line in read(name).splitlines():
        if not line.startswith("Benchmark"):
            continue
        f = line.split()
        for i in range(2, len(f) - 1, 2):
            if f[i + 1] == metric:
                vals.append(float(f[i]))
    return vals


def spread(m):
    if m is None:
        return ""
    return "%s–%s (n=%d)" % (fmt_t(m["min"]), fmt_t(m["max"]), m["runs"])


def from_values(vals, scale, cmd):
    if not vals:
        return None
    vals = [v * scale for v in vals]
    return dict(median=statistics.median(vals), min=min(vals), max=max(vals), runs=len(vals), cmd=cmd, times=vals)


def iqr(m):
    """The interquartile range of a measurement's runs."""
    if len(m["times"]) < 2:
        return m["min"], m["max"]
    q = statistics.quantiles(m["times"], n=4)
    return q[0], q[2]


def ratio(a, b):
    if not a or not b or not b["median"]:
        return None
    return a["median"] / b["median"]


rows = []  # (section, tool, command, median, spread, ratio)
changed = None
targets = []  # (target, measured, met)


def add(section, tool, m, ratio_text="", cmd=None, median=None):
    if m is None and median is None:
        rows.append((section, tool, cmd or "", "not measured", "", ""))
        return
    rows.append((section, tool, cmd if cmd is not None else m["cmd"],
                 median if median is not None else fmt_t(m["median"]), spread(m) if m else "", ratio_text))


def x(r, unit="×"):
    return "" if r is None else ("%.0f%s" % (r, unit) if r >= 100 else "%.1f%s" % (r, unit))


# 1. No-op check of a satisfied state.
noop = from_values(gobench("noop.txt", "ns/op"), 1e-9,
                   "go test -run '^$' -bench '^BenchmarkNoopPass$' -benchtime 200x ./controllers/policy/")
cached = None
if exists("detect-patchlet.jsonl"):
    for line in read("detect-patchlet.jsonl").splitlines():
        d = json.loads(line)
        m = dict(median=d["median_ms"] / 1e3, min=d["min_ms"] / 1e3, max=d["max_ms"] / 1e3, runs=d["runs"],
                 cmd="chroot $SANDBOX benchtool observe (apt backend Observe, %s)" % d["what"], count=d["count"])
        if d["what"] == "observe-cached":
            cached = m
        else:
            changed = m
ans = hf("noop-ansible")
uu = hf("noop-uu")
S = "no-op check (satisfied)"
add(S, "patchlet pass (observe+plan+status write)", noop, "1.0 (baseline)")
add(S, "patchlet observe of the sandbox host (cached)", cached and dict(cached, cmd="chroot $SANDBOX benchtool observe -runs 50 (observe-cached)"),
    "Ansible %s slower" % x(ratio(ans, cached)) if cached and ans else "")
add(S, "ansible apt module", ans, x(ratio(ans, noop)) + " slower than patchlet")
add(S, "unattended-upgrade --dry-run", uu, x(ratio(uu, noop)) + " slower than patchlet")
r = ratio(ans, noop)
targets.append(("no-op ≤ 1/100 of Ansible's", "patchlet's pass is 1/%s of Ansible's" % ("%.0f" % r if r else "?"), r is not None and r >= 100))

# 2. Install one pinned package; 3. upgrade 20 packages.
steps = {}
if exists("agent.log"):
    for line in read("agent.log").splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("msg") == "step succeeded" and "duration" in e:
            d = e["duration"]
            s = float(re.sub(r"[a-zµ]+$", "", d)) * {"ms": 1e-3, "s": 1, "µs": 1e-6, "m": 60}[re.sub(r"^[0-9.]+", "", d)] if re.fullmatch(r"[0-9.]+(ms|s|µs)", d) else None
            if s is not None:
                steps.setdefault(e.get("step"), []).append(s)
for key, title, step in (("install", "install one pinned package", "Install"), ("upgrade", "upgrade 20 packages", "Upgrade")):
    apt = hf(key + "-apt")
    e2e = hf(key + "-patchlet")
    an = hf(key + "-ansible")
    argv = read(key + "-argv.txt") if exists(key + "-argv.txt") else "?"
    n = e2e["runs"] if e2e else 0
    st = from_values(steps.get(step, [])[-n:] if n else [], 1, "the same argv run detached by the agent (agent log, step duration)")
    add(title, "bare apt-get (patchlet's argv)", apt, "1.00 (baseline)")
    r_st = ratio(st, apt)
    add(title, "patchlet step (detached executor)", st, "" if r_st is None else "%+.1f %%" % ((r_st - 1) * 100))
    r_e2e = ratio(e2e, apt)
    add(title, "patchlet apply → Ready (observe, plan, step, verify)", e2e, "" if r_e2e is None else "%+.0f %%" % ((r_e2e - 1) * 100))
    r_an = ratio(an, apt)
    add(title, "ansible apt module", an, "" if r_an is None else "%+.0f %%" % ((r_an - 1) * 100))
    targets.append(("overhead over bare apt-get ≤ 3 %% (%s)" % title,
                    "step %s, apply → Ready %s" % ("n/a" if r_st is None else "%+.1f %%" % ((r_st - 1) * 100),
                                                    "n/a" if r_e2e is None else "%+.0f %%" % ((r_e2e - 1) * 100)),
                    r_st is not None and r_st <= 1.03,
                    st is not None and apt is not None and iqr(st)[0] <= iqr(apt)[1] and iqr(apt)[0] <= iqr(st)[1]))

# 4. Detect pending upgrades.
S = "detect pending upgrades"
aptlist = hf("detect-apt")
cnt = cached.get("count") if cached else None
add(S, "apt list --upgradable", aptlist, "1.0 (baseline)")
add(S, "patchlet Observe, cached (%s upgradable)" % cnt, cached, x(ratio(aptlist, cached)) + " faster than apt list" if cached and aptlist else "")
r_ch = ratio(changed, aptlist)
add(S, "patchlet Observe after an index change (dry run)", changed,
    "" if r_ch is None else (x(r_ch) + " slower than apt list" if r_ch >= 1 else x(1 / r_ch) + " faster than apt list"))

# 5. Observe 1,000 / 10,000 installed packages.
obs10k = None
for n in (1000, 10000):
    S = "observe %s installed packages" % format(n, ",")
    inproc = None
    if exists("parse%d.json" % n):
        d = json.load(open(path("parse%d.json" % n)))
        inproc = dict(median=d["median_ms"] / 1e3, min=d["min_ms"] / 1e3, max=d["max_ms"] / 1e3, runs=d["runs"],
                      cmd="benchtool parse -runs 101 -status $W/db%d/status (read + apt.ParseStatus, in-process)" % n)
    proc = hf("observe%d" % n, 0)
    dq = hf("observe%d" % n, 1)
    add(S, "patchlet parser, in the agent's process", inproc, "")
    add(S, "patchlet parser as a process", proc, "1.0 (baseline)")
    add(S, "dpkg-query -W", dq, x(ratio(dq, proc)) + " slower" if proc else "")
    if n == 10000:
        obs10k = inproc
targets.append(("observe 10,000 packages ≤ 50 ms", fmt_t(obs10k["median"]) + " (max %s)" % fmt_t(obs10k["max"]) if obs10k else "n/a",
                obs10k is not None and obs10k["median"] <= 0.05))

# 6. Footprint.
S = "agent footprint"
idle = json.load(open(path("idle.json"))) if exists("idle.json") else None
load = json.load(open(path("load.json"))) if exists("load.json") else None
if idle:
    rows.append((S, "idle, %d s, policies satisfied" % idle["seconds"], "/proc/PID/{status,stat} of the agent",
                 "RSS %.1f MiB" % (idle["rss_kib"] / 1024),
                 "CPU %.2f s, %.2f wake-ups/s (context switches), %d threads, peak RSS %.1f MiB" % (
                     idle["cpu_s"], idle["switches"] / idle["seconds"], idle["threads"], idle["hwm_kib"] / 1024), ""))
    targets.append(("idle RSS ≤ 20 MiB", "%.1f MiB" % (idle["rss_kib"] / 1024), idle["rss_kib"] <= 20 * 1024))
if load:
    rows.append((S, "under wrk load while a step runs, %d s" % load["seconds"], "/proc/PID/{status,stat} of the agent",
                 "RSS %.1f MiB" % (load["rss_kib"] / 1024),
                 "CPU %.1f s (%.0f %% of a core), peak RSS %.1f MiB" % (load["cpu_s"], 100 * load["cpu_s"] / load["seconds"], load["hwm_kib"] / 1024), ""))

# 7. Status API.
S = "status API (GET host status, loopback TCP)"


def wrk_parse(text):
    unit = {"us": 1e-6, "ms": 1e-3, "s": 1}
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", text).group(1))
    lat = {}
    for p, v, u in re.findall(r"^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$", text, re.M):
        lat[p] = float(v) * unit[u]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    return rps, lat.get("50"), lat.get("99"), int(non2xx.group(1)) if non2xx else 0


wrks = []
for f in sorted(glob.glob(path("wrk*.txt"))):
    if f.endswith("wrk-command.txt"):
        continue
    try:
        wrks.append(wrk_parse(open(f).read()))
    except (AttributeError, ValueError):
        pass
if wrks:
    cmd = short(read("wrk-command.txt"))
    step = "a step was Running throughout" if exists("api-step-after.txt") and read("api-step-after.txt") != "0" else "the step had finished before the end"
    rps = [w[0] for w in wrks]
    p50 = [w[1] for w in wrks]
    p99 = [w[2] for w in wrks]
    bad = sum(w[3] for w in wrks)
    rows.append((S, "patchlet agent (%s; %d non-2xx)" % (step, bad), cmd, "%.0f req/s" % statistics.median(rps),
                 "%.0f–%.0f req/s (n=%d)" % (min(rps), max(rps), len(rps)), ""))
    rows.append((S, "latency p50 / p99", cmd, "%s / %s" % (fmt_t(statistics.median(p50)), fmt_t(statistics.median(p99))),
                 "p99 %s–%s" % (fmt_t(min(p99)), fmt_t(max(p99))), ""))
    targets.append(("API ≥ 20,000 req/s with p99 ≤ 5 ms", "%.0f req/s, p99 %s" % (statistics.median(rps), fmt_t(statistics.median(p99))),
                    statistics.median(rps) >= 20000 and statistics.median(p99) <= 0.005))

# 8. Drop-to-reconcile latency.
S = "drop-to-reconcile latency (200 drops)"
p50 = from_values(gobench("drop.txt", "p50-ms"), 1e-3, "go test -run '^$' -bench '^BenchmarkDropLatency$' -benchtime 1x ./controllers/dropdir/")
p99 = from_values(gobench("drop.txt", "p99-ms"), 1e-3, p50["cmd"] if p50 else "")
add(S, "p50, file renamed in → policy in the store", p50)
add(S, "p99", p99)
targets.append(("drop-to-reconcile p99 ≤ 100 ms", fmt_t(p99["median"]) if p99 else "n/a", p99 is not None and p99["median"] <= 0.1))

# 9. Fleet.
S = "fleet (simulated agents)"
if exists("fleet.txt"):
    for line in read("fleet.txt").splitlines():
        if line.startswith("Benchmark"):
            rows.append((S, line.split()[0], "go test -run '^$' -bench . -benchtime 1x ./fleet/...", " ".join(line.split()[2:]), "", ""))
else:
    rows.append((S, "not yet (no fleet/ package with a benchmark)", "", "", "", ""))

# Render.
head = ("measurement", "tool", "command", "median", "spread (min–max)", "ratio")
lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
last = None
for r in rows:
    sec = r[0] if r[0] != last else ""
    last = r[0]
    cells = [sec, r[1], "`%s`" % r[2].replace("|", "\\|") if r[2] else "", r[3], r[4], r[5]]
    lines.append("| " + " | ".join(cells) + " |")
tlines = ["| target | measured | met |", "|---|---|---|"]
for t in targets:
    ok = "yes" if t[2] else "**no**"
    if len(t) > 3 and t[3]:
        ok += " (the interquartile ranges of the step's and apt-get's runs overlap: the difference is within the noise)"
    tlines.append("| %s | %s | %s |" % (t[0], t[1], ok))
now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
legend = ["`$SANDBOX` is the overlay of / (hack/sandbox-lib.sh) and `chroot $SANDBOX` stands for "
          "`chroot $SANDBOX env -i PATH=… LC_ALL=C.UTF-8 HOME=/root DEBIAN_FRONTEND=noninteractive`; "
          "`$AGENT` is the agent's loopback address (`--insecure --rate-limit -1`); `$W` the work directory. "
          "Process timings by hyperfine; ratios are of medians."]
la = ""
if exists("loadavg-start.txt") and exists("loadavg-end.txt"):
    la = "; load average (1/5/15 min) %s at the start, %s at the end" % (read("loadavg-start.txt"), read("loadavg-end.txt"))
text = "\n".join(["measured %s on %s (%d cores%s)" % (now, os.uname().nodename, os.cpu_count(), la), ""] + legend + [""] + lines + [""] + tlines) + "\n"
print()
print(text)
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "results.md"), "w") as f:
    f.write(text)
with open(os.path.join(out, "results.json"), "w") as f:
    json.dump({"rows": rows, "targets": targets, "date": now}, f, indent=1)
