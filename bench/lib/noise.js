// How much CPU processes other than the bench's own took during a run. On a
// shared machine (a test suite next door) that, not the subject, can explain a
// bad number; Linux only (/proc), null elsewhere.
import { readdirSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

// Clock ticks since boot over all CPUs: [busy, total]. Busy is user, nice,
// system and steal; irq and softirq are left out, as our own loopback traffic
// lands there without being charged to any process.
function machineTicks() {
  const [user, nice, system, idle, iowait, irq, softirq, steal = 0] = readFileSync("/proc/stat", "utf8")
    .split("\n")[0]
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return [user + nice + system + steal, user + nice + system + idle + iowait + irq + softirq + steal];
}

// CPU ticks of our process groups (subject, upstream; each spawned detached, so
// its pid is its group id), of this process, and of the children it reaped (wrk).
function ourTicks(groups) {
  let ticks = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // f[0] is field 3 (state)
    const pid = Number(entry);
    if (pid === process.pid) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    else if (groups.includes(Number(f[2]))) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks;
}

/** Call before a run; the returned function, called after it, gives the share of all CPUs others used (0..1) or null. */
export function watchOthers(groups) {
  try {
    const [busy0, total0] = machineTicks();
    const ours0 = ourTicks(groups);
    return () => {
      const [busy1, total1] = machineTicks();
      const ours1 = ourTicks(groups);
      return Math.max(0, busy1 - busy0 - (ours1 - ours0)) / (total1 - total0 || 1);
    };
  } catch {
    return () => null;
  }
}

/** Share of all CPUs busy over the next ms, before anything of ours runs, or null. */
export async function machineBusy(ms = 1000) {
  try {
    const [busy0, total0] = machineTicks();
    await sleep(ms);
    const [busy1, total1] = machineTicks();
    return (busy1 - busy0) / (total1 - total0 || 1);
  } catch {
    return null;
  }
}
