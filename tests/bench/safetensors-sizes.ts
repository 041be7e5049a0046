/**
 * The safetensors reader at real and hostile sizes, each case in its own process so its peak
 * RSS is its own: a 2.25 GiB F32 file (72 tensors of 32 MiB, written sparse under runs/) read
 * with loadSafetensors, a crafted 98 MB header of 1.78 M tiny entries, and a 100 MB header
 * whose one name is 50 M escapes. Prints time and peak RSS above the process's baseline.
 *
 *   npx tsx tests/bench/safetensors-sizes.ts            every case (needs ~2.5 GB free memory and disk)
 *   npx tsx tests/bench/safetensors-sizes.ts entries    one case: big | entries | escapes
 */
import { execFileSync } from 'node:child_process';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSafetensors, parseSafetensorsHeader } from '../../core/io/index.ts';

const CASES = ['big', 'entries', 'escapes'] as const;
type Case = (typeof CASES)[number];
const dir = join(process.cwd(), 'runs', 'safetensors-sizes');

/** Writes an 8-byte length, the header padded to 8, and (sparsely) `dataBytes` of data ending in `last`. */
async function writeFileWith(path: string, json: string, dataBytes: number, last?: Uint8Array): Promise<void> {
  while (json.length % 8) json += ' ';
  const header = Buffer.from(json);
  const fh = await open(path, 'w');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(header.length));
  await fh.write(prefix, 0, 8, 0);
  await fh.write(header, 0, header.length, 8);
  if (last) await fh.write(last, 0, last.length, 8 + header.length + dataBytes - last.length);
  await fh.close();
}

async function prepare(c: Case): Promise<string> {
  const path = join(dir, `${c}.safetensors`);
  if (c === 'big') {
    const n = 72, count = 8 << 20;
    const entries = Array.from({ length: n }, (_, i) => `"t${i}":{"dtype":"F32","shape":[${count}],"data_offsets":[${i * count * 4},${(i + 1) * count * 4}]}`);
    await writeFileWith(path, `{${entries.join(',')}}`, n * count * 4, new Uint8Array(new Float32Array([1.5]).buffer));
  } else if (c === 'entries') {
    const entries = Array.from({ length: 1_780_000 }, (_, i) => `"${i.toString(36)}":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}`);
    await writeFileWith(path, `{${entries.join(',')}}`, 0);
  } else {
    await writeFileWith(path, `{"${'\\n'.repeat(49_999_950)}":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, 0);
  }
  return path;
}

/** Runs one case in this process and prints its figures as JSON. */
async function measure(c: Case, path: string): Promise<void> {
  const bytes = c === 'big' ? null : await readFile(path);
  const base = process.memoryUsage().rss;
  const started = performance.now();
  let what: string;
  if (c === 'big') {
    const { tensors } = await loadSafetensors(path);
    const last = tensors.get('t71')!.toArray();
    what = `${tensors.size} tensors, last value ${last[last.length - 1]}`;
  } else {
    const h = parseSafetensorsHeader(new Uint8Array(bytes!.buffer, bytes!.byteOffset, bytes!.length), path);
    what = `${h.tensors.size} entries`;
  }
  const seconds = (performance.now() - started) / 1000;
  const peakMB = process.resourceUsage().maxRSS / 1024 - base / 2 ** 20;
  console.log(JSON.stringify({ case: c, what, seconds: Number(seconds.toFixed(2)), peakAboveBaselineMB: Math.round(peakMB) }));
}

const [arg, pathArg] = process.argv.slice(2);
if (pathArg) {
  await measure(arg as Case, pathArg);
} else {
  const chosen = arg ? [arg as Case] : [...CASES];
  for (const c of chosen) if (!CASES.includes(c)) throw new Error(`unknown case '${c}' (${CASES.join(', ')})`);
  await mkdir(dir, { recursive: true });
  try {
    for (const c of chosen) {
      const path = await prepare(c);
      const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), c, path], { encoding: 'utf8' });
      process.stdout.write(out);
      await rm(path);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
