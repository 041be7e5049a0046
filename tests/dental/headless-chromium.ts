/**
 * Opens a local HTML file in headless Chromium and reports how it rendered, over the DevTools
 * protocol on a pipe (`--remote-debugging-pipe`: JSON messages, NUL-terminated, on fds 3 and 4),
 * so no browser-automation package is needed: every <img> with its natural size, the page's
 * console errors and uncaught exceptions, and the result of an expression evaluated in the page.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';

/** Where Debian's `chromium` package puts the browser (CI's .ci/run installs it); CHROMIUM_PATH overrides. */
export function chromiumPath(): string | null {
  for (const p of [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser']) if (p && existsSync(p)) return p;
  return null;
}

export interface PageReport {
  images: Array<{ alt: string; complete: boolean; naturalWidth: number; naturalHeight: number }>;
  errors: string[];
  value: unknown;
}

interface Message { id?: number; method?: string; params?: Record<string, any>; result?: Record<string, any>; error?: { message: string }; sessionId?: string }

/**
 * `timeoutMs` only catches a browser that hangs (it is killed, and the test fails naming that):
 * 10 minutes, far beyond what a loaded machine needs, like the suite's own hang limit.
 */
export async function renderPage(file: string, expression = 'null', timeoutMs = 600_000): Promise<PageReport> {
  const exe = chromiumPath();
  if (!exe) throw new Error('no chromium (set CHROMIUM_PATH or install Debian\'s chromium)');
  const profile = await mkdtemp(join(tmpdir(), 'chromium-profile-'));
  const child = spawn(exe, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check',
    '--remote-debugging-pipe', `--user-data-dir=${profile}`, 'about:blank',
  ], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
  const gone = new Promise<void>((r) => child.on('exit', () => r()));
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const toBrowser = child.stdio[3] as Writable, fromBrowser = child.stdio[4] as Readable;
  const pending = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  const listeners: Array<(m: Message) => void> = [];
  let nextId = 1, buffer = Buffer.alloc(0);
  fromBrowser.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (let end = buffer.indexOf(0); end >= 0; end = buffer.indexOf(0)) {
      const msg = JSON.parse(buffer.subarray(0, end).toString('utf8')) as Message;
      buffer = buffer.subarray(end + 1);
      if (msg.id !== undefined && pending.has(msg.id)) {
        const p = pending.get(msg.id)!;
        pending.delete(msg.id);
        if (msg.error) p.reject(new Error(`DevTools: ${msg.error.message}`)); else p.resolve(msg);
      } else for (const l of listeners) l(msg);
    }
  });
  const exited = new Promise<never>((_, reject) => child.on('exit', (code, signal) => reject(new Error(`chromium exited (${code ?? signal}) before the page was checked: ${stderr}`))));
  exited.catch(() => {});
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string) => {
    const id = nextId++;
    const reply = new Promise<Message>((resolve, reject) => pending.set(id, { resolve, reject }));
    toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    return Promise.race([reply, exited]);
  };
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const { targetId } = (await send('Target.createTarget', { url: 'about:blank' })).result!;
    const { sessionId } = (await send('Target.attachToTarget', { targetId, flatten: true })).result!;
    const errors: string[] = [];
    let loaded!: () => void;
    const load = new Promise<void>((r) => (loaded = r));
    listeners.push((m) => {
      if (m.sessionId !== sessionId) return;
      if (m.method === 'Runtime.consoleAPICalled' && (m.params!.type === 'error' || m.params!.type === 'assert')) errors.push(`console.${m.params!.type}: ${m.params!.args.map((a: { value?: unknown; description?: string }) => a.value ?? a.description).join(' ')}`);
      if (m.method === 'Runtime.exceptionThrown') errors.push(`exception: ${m.params!.exceptionDetails.exception?.description ?? m.params!.exceptionDetails.text}`);
      if (m.method === 'Log.entryAdded' && m.params!.entry.level === 'error') errors.push(`log: ${m.params!.entry.text}${m.params!.entry.url ? ` (${m.params!.entry.url.slice(0, 80)})` : ''}`);
      if (m.method === 'Page.loadEventFired') loaded();
    });
    for (const domain of ['Runtime.enable', 'Log.enable', 'Page.enable']) await send(domain, {}, sessionId);
    await send('Page.navigate', { url: pathToFileURL(file).href }, sessionId);
    await Promise.race([load, exited]);
    const evaluate = async (expr: string) => {
      const r = (await send('Runtime.evaluate', { expression: expr, returnByValue: true, awaitPromise: true }, sessionId)).result!;
      if (r.exceptionDetails) throw new Error(`in the page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
      return r.result.value as unknown;
    };
    // decode() settles once each image is decoded (or rejects for a broken one): no timing guess
    const images = await evaluate(`Promise.all([...document.images].map((i) => i.decode().catch(() => null)))
      .then(() => [...document.images].map((i) => ({ alt: i.alt, complete: i.complete, naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight })))`) as PageReport['images'];
    const value = await evaluate(expression);
    await send('Browser.close').catch(() => {});
    return { images, errors, value };
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await gone;
    await rm(profile, { recursive: true, force: true });
  }
}
