/**
 * The generator's output folder, made safe against the things that happen to long runs:
 * two runs racing for one folder (a lock file, taken before any work), a path that cannot
 * take the output (checked before rendering), a run killed part way (a fixed staging folder a
 * re-run resumes from), and `--overwrite` killed while swapping the old dataset for the new
 * (the old one is moved aside whole and the swap is finished or undone by the next run, so
 * old and new files never mix). Every failure is a GenerateError naming the path.
 *
 * Beside `<out>` in its parent folder:
 *   .<out>.lock      the running generator's pid, host and start time
 *   .<out>.partial   the run being rendered (run.json: what it renders; progress.jsonl: done samples)
 *   .<out>.old       the previous dataset, during an --overwrite swap
 */
import { hostname } from 'node:os';
import { mkdir, readdir, readFile, realpath, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

export class GenerateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GenerateError';
  }
}

const FS_PROBLEMS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'it is a folder',
  EBUSY: 'it is busy (a mount point?)',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'the name is too long',
};

/** A file-system error as our own: what we were doing, the path (`path` when the error has none), the problem in words, the code. */
export function fsProblem(doing: string, e: unknown, path?: string): Error {
  const err = e as NodeJS.ErrnoException;
  if (e instanceof GenerateError || !err?.code) return e as Error;
  const problem = FS_PROBLEMS[err.code] ?? err.message;
  const where = err.path ?? path;
  return new GenerateError(`generate: cannot ${doing}${where ? ` ${where}` : ''}: ${problem} (${err.code})`);
}

/** `fn`, with any file-system error it throws worded as our own (naming `path` when the error does not). */
export async function worded<T>(doing: string, fn: () => Promise<T>, path?: string): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw fsProblem(doing, e, path);
  }
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, (e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return false;
    throw fsProblem('look at', e);
  });
}

/** The entries of `dir`, or none when it does not exist yet. */
export async function entriesOf(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fsProblem('list', e);
  }
}

export class OutputFolder {
  /** The output folder's real path (a link to a folder is followed; the link stays). */
  readonly out: string;
  readonly lock: string;
  readonly staging: string;
  readonly old: string;
  private locked = false;

  private constructor(readonly given: string, real: string, private readonly notice: (message: string) => void) {
    this.out = real;
    const parent = dirname(real);
    const base = basename(real);
    this.lock = join(parent, `.${base}.lock`);
    this.staging = join(parent, `.${base}.partial`);
    this.old = join(parent, `.${base}.old`);
  }

  /**
   * Checks what can be checked before any work: the path names a folder or nothing, is not a
   * mount point (the finished set is renamed into place), and is empty unless `overwrite`,
   * which replaces only a dataset this generator wrote. Then takes the lock.
   */
  static async open(given: string, o: { overwrite: boolean; isOurDataset: (dir: string) => Promise<boolean>; notice: (m: string) => void }): Promise<OutputFolder> {
    let real = resolve(given);
    const st = await stat(real).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      if (e.code === 'ENOTDIR') throw new GenerateError(`generate: output folder ${given}: a part of that path is a file, not a folder`);
      throw fsProblem('use the output folder', e);
    });
    if (st && !st.isDirectory()) throw new GenerateError(`generate: output path ${given} is a file, not a folder`);
    if (st) {
      real = await worded('resolve', () => realpath(real));
      const parent = await worded('look at', () => stat(dirname(real)));
      if (parent.dev !== st.dev) {
        throw new GenerateError(`generate: output folder ${given} is a mount point; the finished dataset is renamed into place, which a mount point does not allow: use a folder inside it (e.g. ${join(given, 'dental-data')})`);
      }
    }
    const folder = new OutputFolder(given, real, o.notice);
    await worded('create the folder', () => mkdir(dirname(real), { recursive: true }));
    await folder.takeLock();
    try {
      await folder.recoverSwap();
      await folder.removeOldStaging();
      const entries = await entriesOf(real);
      if (entries.length > 0 && !o.overwrite) {
        throw new GenerateError(`generate: output folder ${given} is not empty (${entries.length} entries); pick an empty one or pass --overwrite`);
      }
      if (entries.length > 0 && !(await o.isOurDataset(real))) {
        throw new GenerateError(`generate: --overwrite replaces only a dataset this generator wrote, and ${given} holds other files (no dataset.json from the generator): pick another folder`);
      }
      return folder;
    } catch (e) {
      await folder.release();
      throw e;
    }
  }

  private async takeLock(): Promise<void> {
    const me = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
    for (let attempt = 0; ; attempt++) {
      try {
        await writeFile(this.lock, JSON.stringify(me) + '\n', { flag: 'wx' });
        this.locked = true;
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw fsProblem('take the lock', e);
      }
      const holder = await readFile(this.lock, 'utf8').then((t) => JSON.parse(t) as typeof me, () => null);
      if (holder && holder.host !== me.host) {
        throw new GenerateError(`generate: a run on host ${holder.host} (pid ${holder.pid}, started ${holder.started}) holds the lock on ${this.given}; if it is gone, delete ${this.lock}`);
      }
      if (holder && alive(holder.pid)) {
        throw new GenerateError(`generate: another run (pid ${holder.pid}, started ${holder.started}) is writing ${this.given}; wait for it to finish (its lock is ${this.lock})`);
      }
      await rm(this.lock, { force: true });
      this.notice(`removed a stale lock ${this.lock}${holder ? ` (pid ${holder.pid} is gone)` : ' (unreadable)'}`);
    }
  }

  async release(): Promise<void> {
    if (this.locked) await rm(this.lock, { force: true });
    this.locked = false;
  }

  /** An --overwrite killed between its two renames: finish the swap, or put the old dataset back. */
  private async recoverSwap(): Promise<void> {
    if (!(await exists(this.old))) return;
    if (await exists(this.out)) {
      await worded('remove', () => rm(this.old, { recursive: true, force: true }));
      this.notice(`removed ${this.old}, the previous dataset an interrupted --overwrite had already replaced`);
    } else if (await exists(join(this.staging, 'prompt.json'))) {
      await this.stripBookkeeping();
      await worded('move', () => rename(this.staging, this.out));
      await worded('remove', () => rm(this.old, { recursive: true, force: true }));
      this.notice(`finished publishing the dataset an interrupted --overwrite had completed, in ${this.given}`);
    } else {
      await worded('move', () => rename(this.old, this.out));
      this.notice(`restored the previous dataset to ${this.given} (an --overwrite was interrupted while swapping)`);
    }
  }

  /** Staging folders of the earlier scheme (.<out>.partial-XXXXXX) can never be resumed. */
  private async removeOldStaging(): Promise<void> {
    const prefix = `.${basename(this.out)}.partial-`;
    for (const name of await entriesOf(dirname(this.out))) {
      if (!name.startsWith(prefix)) continue;
      await worded('remove', () => rm(join(dirname(this.out), name), { recursive: true, force: true }));
      this.notice(`removed ${join(dirname(this.out), name)}, partial output of an interrupted run`);
    }
  }

  /** The staging folder's own files, which must not reach the dataset. */
  static readonly BOOKKEEPING = ['run.json', 'progress.jsonl'];

  async stripBookkeeping(): Promise<void> {
    for (const f of OutputFolder.BOOKKEEPING) await rm(join(this.staging, f), { force: true });
  }

  /**
   * Moves the finished staging folder into place: one rename when the output is new or
   * empty; with files there (--overwrite), the old dataset is renamed aside first and
   * removed after, so the folder holds either the old set or the new one, never a mix.
   */
  async publish(): Promise<void> {
    await this.stripBookkeeping();
    const replacing = (await entriesOf(this.out)).length > 0;
    if (replacing) {
      await worded('move the previous dataset aside to', () => rename(this.out, this.old));
    } else {
      await rmdir(this.out).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw fsProblem('replace the empty folder', e);
      });
    }
    await worded('move the finished dataset to', () => rename(this.staging, this.out));
    if (replacing) await worded('remove', () => rm(this.old, { recursive: true, force: true }));
  }
}

/** Whether a process with this id exists (EPERM: it does, under another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
