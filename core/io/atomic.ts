/**
 * Atomic file writes: a reader (or a crash) never sees a half-written checkpoint or image.
 *
 * A write goes to `<path>.tmp-<pid>-<random>` beside the target, is flushed, renamed over the
 * target, and the folder is flushed so the rename itself survives a power cut. A process killed
 * mid-write leaves its temporary file behind; the next write into that folder removes every
 * such file whose writer process is gone (a live writer's file is left alone).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** The temporary name of an atomic write: `<target name>.tmp-<pid>-<8 hex>`. */
const TEMP_NAME = /\.tmp-(\d+)-[0-9a-f]{8}$/;

/** A fresh temporary name beside `path` for this process. */
export function tempPathFor(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** True when a process with this id exists (EPERM: it exists but belongs to someone else). */
function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the leftovers of interrupted atomic writes in `dir`: files and folders named
 * `*.tmp-<pid>-<hex>` whose process no longer runs. Returns the names removed.
 */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const stale = names.filter((n) => {
    const m = TEMP_NAME.exec(n);
    return m !== null && !processAlive(Number(m[1]));
  });
  await Promise.all(stale.map((n) => rm(join(dir, n), { recursive: true, force: true })));
  return stale;
}

/** Flushes a folder's entries (a rename or a new file in it) to disk. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch (e) {
    // Some filesystems cannot fsync a directory; the data itself was already flushed.
    if (!['EINVAL', 'EISDIR', 'EPERM', 'ENOTSUP'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
  } finally {
    await fh.close();
  }
}

export interface AtomicWriteOptions {
  /** Create the folder (and its parents) when missing. Default true. */
  mkdir?: boolean;
}

/**
 * Writes bytes to a temporary file beside `path`, flushes it, renames it over `path` and
 * flushes the folder. Cleans up stale temporary files of earlier, killed writers first.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string, options: AtomicWriteOptions = {}): Promise<void> {
  const dir = dirname(path);
  if (options.mkdir ?? true) await mkdir(dir, { recursive: true });
  await removeStaleTemps(dir);
  const tmp = tempPathFor(path);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await syncDir(dir);
}
