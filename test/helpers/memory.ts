/**
 * Memory growth of this process while something runs: the gateway runs in-process, so a proxy
 * that buffers a body shows up here. Sample often (at each chunk); the peak above the baseline
 * is what counts.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as (options?: { type: "major" | "minor" }) => void;
/** A full GC, so that the baseline does not carry earlier tests' garbage. */
const collect = () => gc();
/** A scavenge: frees the young garbage (read chunks die young) in about a millisecond. */
const scavenge = () => gc({ type: "minor" });

export interface MemoryProbe {
  /** Records the current usage; call it from the data path (per chunk). */
  sample(): void;
  /** Peak growth above the baseline, in bytes: rss, and live ArrayBuffers (where Buffers live). */
  growth(): { rss: number; arrayBuffers: number };
}

export function memoryProbe(): MemoryProbe {
  collect();
  const base = process.memoryUsage();
  let rss = base.rss;
  let arrayBuffers = base.arrayBuffers;
  let calls = 0;
  return {
    sample() {
      // Every 8th chunk (512 KiB of 64 KiB chunks): scavenge first, so that what is counted is
      // what is still referenced (buffered), not garbage the GC has not reached yet.
      if (calls++ % 8 !== 7) return;
      scavenge();
      const now = process.memoryUsage();
      rss = Math.max(rss, now.rss);
      arrayBuffers = Math.max(arrayBuffers, now.arrayBuffers);
    },
    growth() {
      return { rss: rss - base.rss, arrayBuffers: arrayBuffers - base.arrayBuffers };
    },
  };
}

export const MiB = 1024 * 1024;
