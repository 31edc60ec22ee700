/**
 * `watch: true`: reload when the config file or a file it references (hook modules, certificates,
 * htpasswd, key files: RouteTable.files) changes. Each file's folder is watched, not the file alone,
 * so that an editor's save-by-rename and a Kubernetes ConfigMap or NixOS /etc symlink swap are
 * seen too (the folder of every symlink on the way to the file is watched as well). Events are
 * debounced; then the files' contents are hashed and compared, so that a touch, an unrelated file
 * in the same folder or a burst of writes cause no reload, or exactly one.
 */
import { createHash } from "node:crypto";
import { type FSWatcher, lstatSync, readlinkSync, watch } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";

export const WATCH_DEBOUNCE_MS = 150;

async function digestOf(file: string): Promise<string> {
  try {
    return createHash("sha256")
      .update(await readFile(file))
      .digest("hex");
  } catch (error) {
    return `missing:${(error as NodeJS.ErrnoException).code ?? "?"}`;
  }
}

/** The folders to watch for `file`: its own, and the folder of each symlink met on the way to the real file. */
export function foldersFor(file: string): Set<string> {
  let target = path.resolve(file);
  const folders = new Set<string>([path.dirname(target)]);
  for (let hops = 0; hops < 32; hops++) {
    const parts = target.split(path.sep).filter((part) => part !== "");
    let current = path.parse(target).root;
    let next: string | null = null;
    for (let i = 0; i < parts.length; i++) {
      current = path.join(current, parts[i] as string);
      try {
        if (!lstatSync(current).isSymbolicLink()) continue;
        // A swap of this link (Kubernetes ..data, NixOS /etc/static) is an event in its folder.
        folders.add(path.dirname(current));
        next = path.resolve(path.dirname(current), readlinkSync(current), ...parts.slice(i + 1));
      } catch {
        // Missing on the way: the folders so far are watched, a file appearing there is seen.
      }
      break;
    }
    if (next === null) {
      // The real file: where it is replaced in place.
      folders.add(path.dirname(target));
      break;
    }
    target = next;
  }
  return folders;
}

export class FileWatcher {
  readonly #logger: Logger;
  readonly #onChange: (changed: string[]) => void;
  #files = new Map<string, string>();
  #watchers = new Map<string, FSWatcher>();
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(logger: Logger, onChange: (changed: string[]) => void) {
    this.#logger = logger;
    this.#onChange = onChange;
  }

  /** Watches exactly `files` from now on (their current contents are the reference). */
  async set(files: Iterable<string>): Promise<void> {
    const list = [...new Set([...files].map((file) => path.resolve(file)))];
    // A file watched already keeps the content last seen: read again now, an edit made since the
    // reload began (the reload logs before this runs) would become the reference and go unseen.
    const known = this.#files;
    const digests = await Promise.all(list.map((file) => known.get(file) ?? digestOf(file)));
    this.#files = new Map(list.map((file, i) => [file, digests[i] as string]));
    const folders = new Set<string>();
    for (const file of list) for (const folder of foldersFor(file)) folders.add(folder);
    for (const [folder, watcher] of this.#watchers) {
      if (folders.has(folder)) continue;
      watcher.close();
      this.#watchers.delete(folder);
    }
    for (const folder of folders) {
      if (this.#watchers.has(folder) || this.#closed) continue;
      try {
        const watcher = watch(folder, { persistent: false }, () => this.#schedule());
        watcher.on("error", (error) => this.#logger.warn({ folder, err: error }, `cannot watch ${folder} any more`));
        this.#watchers.set(folder, watcher);
      } catch (error) {
        this.#logger.warn({ folder, err: error }, `cannot watch ${folder}: ${(error as Error).message}`);
      }
    }
  }

  get files(): string[] {
    return [...this.#files.keys()];
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#check();
    }, WATCH_DEBOUNCE_MS);
  }

  async #check(): Promise<void> {
    const changed: string[] = [];
    for (const [file, digest] of this.#files) {
      const now = await digestOf(file);
      if (now === digest) continue;
      this.#files.set(file, now);
      changed.push(file);
    }
    if (changed.length > 0 && !this.#closed) this.#onChange(changed);
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    for (const watcher of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
  }
}
