#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Pre-authentication cost at rank 0's store (docs/SECURITY.md, "Figures"):
# ranks 0 and 1 of a 3-rank job wait in the bootstrap while 3,000
# connections each announce a 64 KiB PUT before any HELLO and send half of
# it. Prints rank 0's resident memory before and at its peak, and how many
# of those connections the store still holds 0.5 s later.
# Usage: perf/preauth_flood.py (from a build in ./build)
import os, socket, struct, subprocess, sys, time
port = 29611
env = dict(os.environ, RCOMM_ADDR="127.0.0.1:%d" % port, RCOMM_SIZE="3", RCOMM_TIMEOUT="120",
           RCOMM_JOB_KEY="x" * 40, RCOMM_LOG_LEVEL="none")
procs = []
for r in (0, 1):
    e = dict(env, RCOMM_RANK=str(r))
    procs.append(subprocess.Popen(["build/rcomm-allreduce-perf", "-b", "8", "-e", "8"], env=e,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
time.sleep(1.5)
def rss(pid):
    for l in open("/proc/%d/status" % pid):
        if l.startswith("VmRSS"):
            return int(l.split()[1]) / 1024
before = rss(procs[0].pid)
hdr = struct.pack(">IIIIIII", 0x52434b56, (2 << 16) | 2, 1, 0, 0, 4, 65536)
socks = []
peak = before
for i in range(3000):
    try:
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        try:
            s.send(hdr + b"k" * 4 + b"v" * 32768)
        except OSError:
            pass
        socks.append(s)
    except OSError as e:
        pass
    if i % 250 == 0:
        peak = max(peak, rss(procs[0].pid))
time.sleep(0.5)
peak = max(peak, rss(procs[0].pid))
open_left = 0
for s in socks:
    try:
        d = s.recv(1)
        if d: open_left += 1
    except BlockingIOError:
        open_left += 1
    except OSError:
        pass
print("rank 0 RSS before %.1f MiB, peak during 3000 PUT-before-HELLO connections %.1f MiB; connections still open after 0.5 s: %d" % (before, peak, open_left))
for p in procs: p.kill()
