import { spawnSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateDataset } from '../../examples/dental/generate.ts';
import { fsProblem, GenerateError } from '../../examples/dental/output-folder.ts';
import { encodePng } from '../../examples/dental/image-io.ts';
import { FDI_NUMBERS, GUM_COLOR, toothColor } from '../../examples/dental/palette.ts';
import { parseSampleName } from '../../examples/dental/prompt.ts';
import { backgroundAt, renderScene } from '../../examples/dental/render.ts';
import { JAWS, PART_GUM, PART_PALATE, VIEWS, jawViewOf, sampleScene } from '../../examples/dental/scene.ts';
import { buildToothMesh, toothShape } from '../../examples/dental/tooth.ts';
import { DEFAULT_GUM } from '../../plugins/blenders/mask-composite.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'dental-gen-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function rgbAt(data: Float32Array, p: number): [number, number, number] {
  return [Math.round(data[p * 3]! * 255), Math.round(data[p * 3 + 1]! * 255), Math.round(data[p * 3 + 2]! * 255)];
}

describe('scene sampling', () => {
  it('cycles through every jaw/view combination', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const { jaw, view } = jawViewOf(i);
      seen.add(`${jaw}/${view}`);
    }
    expect(seen.size).toBe(JAWS.length * VIEWS.length);
  });

  it('is a function of (seed, index) only', () => {
    expect(sampleScene(5, 3)).toEqual(sampleScene(5, 3));
    expect(sampleScene(5, 3)).not.toEqual(sampleScene(6, 3));
  });

  it('gives each jaw its FDI quadrants: 14 teeth, 7 a side', () => {
    const up = sampleScene(1, 0).teeth.map((t) => t.fdi).sort((a, b) => a - b);
    expect(up).toEqual([11, 12, 13, 14, 15, 16, 17, 21, 22, 23, 24, 25, 26, 27]);
    const low = sampleScene(1, 5).teeth.map((t) => t.fdi).sort((a, b) => a - b);
    expect(low).toEqual([31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 47]);
  });

  it('sometimes leaves a tooth out', () => {
    let missing = 0;
    for (let i = 0; i < 60; i++) missing += sampleScene(11, i).teeth.filter((t) => t.missing).length;
    expect(missing).toBeGreaterThan(3);
    expect(missing).toBeLessThan(40);
  });
});

describe('tooth shapes', () => {
  it('builds crowns with outward normals and distinct proportions per type', () => {
    for (const position of [1, 3, 4, 6]) {
      const mesh = buildToothMesh(toothShape('upper', position, 1), 11);
      let outward = 0;
      const n = mesh.attr.length;
      for (let v = 0; v < n; v++) {
        const p = [mesh.positions[v * 3]!, mesh.positions[v * 3 + 1]!, mesh.positions[v * 3 + 2]! - 3];
        outward += p[0]! * mesh.normals[v * 3]! + p[1]! * mesh.normals[v * 3 + 1]! + p[2]! * mesh.normals[v * 3 + 2]! > 0 ? 1 : 0;
      }
      expect(outward / n).toBeGreaterThan(0.8);
    }
    const incisor = toothShape('upper', 1, 1), molar = toothShape('upper', 6, 1), canine = toothShape('upper', 3, 1);
    expect(incisor.taperDepth).toBeLessThan(0.4); // chisel edge
    expect(molar.cusps).toHaveLength(4);
    expect(canine.cusps).toHaveLength(1);
    expect(toothShape('lower', 4, 1).cusps).toHaveLength(2);
  });
});

describe('rendered maps', () => {
  const size = 48;
  const samples = [0, 2, 6, 9].map((i) => renderScene(sampleScene(3, i), size, size));
  /** The part ids of the sub-pixels that make output pixel p (the G-buffer is supersampled). */
  const subParts = (r: (typeof samples)[number], p: number): number[] => {
    const f = r.supersample, W = r.gbuffer.width, x = p % size, y = Math.floor(p / size), parts: number[] = [];
    for (let dy = 0; dy < f; dy++) for (let dx = 0; dx < f; dx++) parts.push(r.gbuffer.part[(y * f + dy) * W + x * f + dx]!);
    return parts;
  };
  const paletteOf = (part: number): readonly number[] => (part >= 10 ? toothColor(part) : part === PART_GUM || part === PART_PALATE ? GUM_COLOR : [0, 0, 0]);

  it('renders every map from a 2x2-supersampled G-buffer, and anti-aliases edges', () => {
    for (const r of samples) {
      expect(r.supersample).toBe(2);
      expect([r.gbuffer.width, r.gbuffer.height]).toEqual([2 * size, 2 * size]);
      for (const m of [r.target, r.lighting, r.segmentation, r.depth, r.normal]) expect([m.width, m.height, m.channels]).toEqual([size, size, 3]);
      // an edge pixel (partly background) has a depth strictly between background and its neighbours
      let partial = 0;
      for (let p = 0; p < size * size; p++) {
        const cover = subParts(r, p).filter((q) => q !== 0).length;
        if (cover > 0 && cover < 4) {
          partial++;
          expect(r.depth.data[p * 3]!).toBeLessThan(0.1 + 0.9 * (cover / 4) + 1e-6);
        }
      }
      expect(partial).toBeGreaterThan(size / 2);
    }
    expect(() => renderScene(sampleScene(0, 0), 16, 16, 0)).toThrow(/supersample must be an integer in \[1, 8\], got 0/);
    const one = renderScene(sampleScene(3, 0), size, size, 1);
    expect(one.gbuffer.width).toBe(size);
  });

  it('segmentation, depth and normal share one foreground, and it is not empty', () => {
    for (const r of samples) {
      let fg = 0;
      for (let p = 0; p < size * size; p++) {
        const seg = rgbAt(r.segmentation.data, p).some((v) => v !== 0);
        expect(seg).toBe(subParts(r, p).some((q) => q !== 0));
        expect(r.depth.data[p * 3]! > 0).toBe(seg);
        expect(r.normal.data[p * 3]! + r.normal.data[p * 3 + 1]! + r.normal.data[p * 3 + 2]! > 0).toBe(seg);
        expect(r.lighting.data[p * 3]! > 0).toBe(seg);
        fg += seg ? 1 : 0;
      }
      expect(fg).toBeGreaterThan(size * size * 0.08);
    }
  });

  it("each segmentation pixel is the mean palette colour of its sub-pixels' parts; whole-tooth pixels render as enamel", () => {
    for (const r of samples) {
      let teeth = 0, whiteish = 0;
      for (let p = 0; p < size * size; p++) {
        const parts = subParts(r, p);
        const expected = [0, 1, 2].map((c) => parts.reduce((s, q) => s + paletteOf(q)[c]!, 0) / parts.length);
        for (let c = 0; c < 3; c++) expect(r.segmentation.data[p * 3 + c]! * 255).toBeCloseTo(expected[c]!, 3);
        const part = parts[0]!;
        if (!parts.every((q) => q === part)) continue; // an edge: a mix
        if (part >= 10) {
          teeth++;
          const [R, G, B] = [r.target.data[p * 3]!, r.target.data[p * 3 + 1]!, r.target.data[p * 3 + 2]!];
          if (Math.min(R, G, B) > 0.35 && Math.max(R, G, B) - Math.min(R, G, B) < 0.3) whiteish++;
        } else if (part === PART_GUM || part === PART_PALATE) {
          expect(r.target.data[p * 3]!).toBeGreaterThan(r.target.data[p * 3 + 1]!); // pink: red over green
        } else {
          // the backdrop, box-filtered like everything else: close to its value at the pixel centre
          const x = p % size, y = Math.floor(p / size);
          for (let c = 0; c < 3; c++) expect(r.target.data[p * 3 + c]!).toBeCloseTo(backgroundAt(r.spec, x, y, size, size, c), 3);
        }
      }
      expect(teeth).toBeGreaterThan(20);
      expect(whiteish / teeth).toBeGreaterThan(0.7); // teeth render as enamel, not gum or background
    }
  });

  it('pixels inside one part have exactly its palette colour, and the blender default gum matches the palette', () => {
    expect([...DEFAULT_GUM]).toEqual([...GUM_COLOR]);
    const palette = new Set(['0,0,0', GUM_COLOR.join(','), ...FDI_NUMBERS.map((f) => toothColor(f).join(','))]);
    for (const r of samples) {
      for (let p = 0; p < size * size; p++) {
        const parts = subParts(r, p);
        if (parts.every((q) => q === parts[0])) expect(palette.has(rgbAt(r.segmentation.data, p).join(','))).toBe(true);
      }
    }
  });

  it('normals agree with the slope of the depth map', () => {
    for (const r of samples) {
      const g = r.gbuffer, ppu = r.camera.pixelsPerUnit, W = g.width;
      let agree = 0, total = 0;
      for (let y = 1; y < g.height - 1; y++) {
        for (let x = 1; x < W - 1; x++) {
          const k = y * W + x, part = g.part[k]!;
          if (!part || g.part[k - 1] !== part || g.part[k + 1] !== part) continue;
          const nx = g.normal[k * 3]!, nz = g.normal[k * 3 + 2]!;
          const expected = -nx / Math.max(nz, 1e-3); // d depth / d x in world units
          if (Math.abs(expected) < 0.5 || Math.abs(expected) > 3) continue;
          const measured = ((g.depth[k + 1]! - g.depth[k - 1]!) / 2) * ppu;
          total++;
          if (Math.sign(measured) === Math.sign(expected)) agree++;
        }
      }
      expect(total).toBeGreaterThan(5);
      expect(agree / total).toBeGreaterThan(0.85);
    }
  });

  it('the lighting map is the shading of the target', () => {
    for (const r of samples) {
      const xs: number[] = [], ys: number[] = [];
      for (let p = 0; p < size * size; p++) {
        if (!subParts(r, p).every((q) => q >= 10)) continue;
        xs.push(r.lighting.data[p * 3]!);
        ys.push((r.target.data[p * 3]! + r.target.data[p * 3 + 1]! + r.target.data[p * 3 + 2]!) / 3);
      }
      const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
      const mx = mean(xs), my = mean(ys);
      let sxy = 0, sxx = 0, syy = 0;
      for (let i = 0; i < xs.length; i++) {
        sxy += (xs[i]! - mx) * (ys[i]! - my);
        sxx += (xs[i]! - mx) ** 2;
        syy += (ys[i]! - my) ** 2;
      }
      expect(sxy / Math.sqrt(sxx * syy)).toBeGreaterThan(0.75);
    }
  });

  it('rejects a bad size', () => {
    expect(() => renderScene(sampleScene(0, 0), 4, 32)).toThrow(/image size/);
  });
});

describe('dataset writer', () => {
  it('writes the CtrLoRA layout with every jaw/view, prompts that parse back, and the same bytes for the same seed', async () => {
    const a = await tempDir(), b = await tempDir(), c = await tempDir();
    const opts = { count: 10, seed: 42, width: 32, height: 32, blender: 'mask-composite', workers: 1 };
    await generateDataset({ ...opts, outDir: a });
    await generateDataset({ ...opts, outDir: b });
    await generateDataset({ ...opts, seed: 43, outDir: c });
    const lines = (await readFile(join(a, 'prompt.json'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(10);
    const combos = new Set<string>();
    for (const rec of lines) {
      expect(Object.keys(rec).sort()).toEqual(['prompt', 'source', 'target']);
      expect(rec.source).toMatch(/^source\/(upper|lower)_\w+_\d{5}\.png$/);
      expect(rec.target).toBe(rec.source.replace('source/', 'target/'));
      const { jaw, view } = parseSampleName(rec.target);
      expect(rec.prompt).toBe(`a 3D dental model of ${jaw} teeth, ${view} view, with professional lighting, high quality, detailed, dental photography, clinical lighting setup`);
      combos.add(`${jaw}/${view}`);
    }
    expect(combos.size).toBe(10);
    for (const folder of ['target', 'lighting', 'segmentation', 'depth', 'normal', 'edges', 'source']) {
      const names = (await readdir(join(a, folder))).sort();
      expect(names).toHaveLength(10);
      for (const n of names) {
        const [x, y, z] = await Promise.all([a, b, c].map((d) => readFile(join(d, folder, n))));
        expect(Buffer.compare(x!, y!)).toBe(0);
        if (folder === 'target') expect(Buffer.compare(x!, z!)).not.toBe(0);
      }
    }
    expect(await readFile(join(a, 'prompt.json'), 'utf8')).toBe(await readFile(join(b, 'prompt.json'), 'utf8'));
    const meta = JSON.parse(await readFile(join(a, 'dataset.json'), 'utf8'));
    expect(meta).toMatchObject({ seed: 42, count: 10, width: 32, height: 32, blender: 'mask-composite' });
  });

  it('renders the same bytes in worker threads as on one thread', async () => {
    const a = await tempDir(), b = await tempDir();
    const opts = { count: 4, seed: 9, width: 24, height: 24, blender: 'alpha', workers: 1 };
    await generateDataset({ ...opts, outDir: a });
    await generateDataset({ ...opts, workers: 2, outDir: b });
    for (const n of await readdir(join(a, 'target'))) {
      expect(Buffer.compare(await readFile(join(a, 'target', n)), await readFile(join(b, 'target', n)))).toBe(0);
    }
    expect(await readFile(join(a, 'prompt.json'), 'utf8')).toBe(await readFile(join(b, 'prompt.json'), 'utf8'));
  });

  it('encodes the same pixels to the same PNG bytes', async () => {
    const r1 = renderScene(sampleScene(8, 1), 32, 32), r2 = renderScene(sampleScene(8, 1), 32, 32);
    expect(Buffer.compare(await encodePng(r1.target), await encodePng(r2.target))).toBe(0);
  });

  /** Every file of a dataset folder (relative path -> bytes), to compare two runs byte for byte. */
  async function snapshot(dir: string): Promise<Map<string, Buffer>> {
    const files = new Map<string, Buffer>();
    for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (e.isFile()) files.set(join(e.parentPath, e.name).slice(dir.length + 1), await readFile(join(e.parentPath, e.name)));
    }
    return files;
  }
  const opts = { count: 4, seed: 3, width: 16, height: 16, blender: 'alpha', workers: 1 };
  const stopAt = (n: number) => (done: number) => {
    if (done === n) throw new Error('stopped');
  };

  it('never publishes a stopped run; the same command resumes it (verifying what was rendered) to the same bytes', async () => {
    const parent = await tempDir();
    const out = join(parent, 'data');
    const fresh = await tempDir();
    await generateDataset({ ...opts, outDir: fresh });

    await expect(generateDataset({ ...opts, outDir: out, onProgress: stopAt(3) })).rejects.toThrow(/stopped \(the 3 samples done are kept in .*\.data\.partial: the same command resumes from them\)/);
    expect(await readdir(parent)).toEqual(['.data.partial']); // no dataset, no lock
    // a damaged file (a kill mid-write) is found by its hash and the sample rendered again
    const staged = join(parent, '.data.partial');
    const [victim] = (await readdir(join(staged, 'depth'))).sort();
    await writeFile(join(staged, 'depth', victim!), 'torn');
    const notices: string[] = [];
    const progress: number[] = [];
    const r = await generateDataset({ ...opts, outDir: out, onNotice: (m) => notices.push(m), onProgress: (d) => progress.push(d) });
    expect(notices).toEqual([expect.stringMatching(/resuming the stopped run in .*: 2 of 4 samples already rendered and verified, 1 damaged ones are rendered again/)]);
    expect(r.resumed).toBe(2);
    expect(progress).toEqual([3, 4]);
    expect(await readdir(parent)).toEqual(['data']);
    expect(await snapshot(out)).toEqual(await snapshot(fresh));

    // in worker threads, stopped by a signal: resumed the same way
    const stop = new AbortController();
    const threaded = join(parent, 'threaded');
    await expect(generateDataset({ ...opts, workers: 2, outDir: threaded, signal: stop.signal, onProgress: (d) => d === 2 && stop.abort(new Error('interrupted')) })).rejects.toThrow('interrupted');
    expect((await readdir(parent)).sort()).toEqual(['.threaded.partial', 'data']);
    await generateDataset({ ...opts, workers: 2, outDir: threaded });
    expect(await snapshot(threaded)).toEqual(await snapshot(fresh));

    // other options: the partial output cannot be resumed, and is removed with a word
    await expect(generateDataset({ ...opts, outDir: join(parent, 'other'), onProgress: stopAt(1) })).rejects.toThrow('stopped');
    const words: string[] = [];
    await generateDataset({ ...opts, seed: 8, outDir: join(parent, 'other'), onNotice: (m) => words.push(m) });
    expect(words).toEqual([expect.stringMatching(/removed .*\.other\.partial, the partial output of a stopped run with other options/)]);
    // a staging folder of the earlier scheme is removed with a word too
    await mkdir(join(parent, '.fourth.partial-x1y2z3'));
    const w2: string[] = [];
    await generateDataset({ ...opts, count: 1, outDir: join(parent, 'fourth'), onNotice: (m) => w2.push(m) });
    expect(w2).toEqual([expect.stringMatching(/removed .*\.fourth\.partial-x1y2z3, partial output of an interrupted run/)]);
    expect((await readdir(parent)).sort()).toEqual(['data', 'fourth', 'other', 'threaded']);
  });

  it('--overwrite swaps the whole dataset: a stopped or interrupted swap never mixes old and new files', async () => {
    const parent = await tempDir();
    const out = join(parent, 'data');
    await generateDataset({ ...opts, outDir: out });
    const old = await snapshot(out);
    await expect(generateDataset({ ...opts, count: 2, outDir: out, overwrite: true, onProgress: stopAt(1) })).rejects.toThrow('stopped');
    expect(await snapshot(out)).toEqual(old); // the earlier set is untouched

    const newer = { ...opts, count: 2, seed: 4 };
    await generateDataset({ ...newer, outDir: out, overwrite: true });
    const fresh = await snapshot(out);
    expect(fresh.get('prompt.json')!.toString().trim().split('\n')).toHaveLength(2);
    expect([...fresh.keys()].filter((k) => k.startsWith('target/'))).toHaveLength(2); // none of the old set's 4 left
    expect(await readdir(parent)).toEqual(['data']);

    // killed between its two renames: the old set moved aside, the new one complete in staging
    await rename(out, join(parent, '.data.old'));
    await generateDataset({ ...opts, outDir: join(parent, 'scratch') });
    await rename(join(parent, 'scratch'), join(parent, '.data.partial'));
    const notes: string[] = [];
    await generateDataset({ ...newer, outDir: out, overwrite: true, onNotice: (m) => notes.push(m) });
    expect(notes[0]).toMatch(/finished publishing the dataset an interrupted --overwrite had completed/);
    expect(await snapshot(out)).toEqual(fresh);
    // killed before the new set was complete: the old set is put back
    await rename(out, join(parent, '.data.old'));
    await mkdir(join(parent, '.data.partial'));
    const back: string[] = [];
    await expect(generateDataset({ ...opts, outDir: out, onNotice: (m) => back.push(m) })).rejects.toThrow(/not empty/);
    expect(back[0]).toMatch(/restored the previous dataset to .*data/);
    expect(await snapshot(out)).toEqual(fresh);
    expect((await readdir(parent)).sort()).toEqual(['.data.partial', 'data']);

    // --overwrite replaces only a dataset this generator wrote
    const mine = join(parent, 'mine');
    await mkdir(mine);
    await writeFile(join(mine, 'notes.txt'), 'keep me');
    await expect(generateDataset({ ...opts, outDir: mine, overwrite: true })).rejects.toThrow(/--overwrite replaces only a dataset this generator wrote, and .*mine holds other files/);
    expect(await readdir(mine)).toEqual(['notes.txt']);

    // an output folder given through a link: the link stays, the files land in the folder it names
    await mkdir(join(parent, 'real'));
    await symlink(join(parent, 'real'), join(parent, 'link'));
    await generateDataset({ ...opts, count: 1, outDir: join(parent, 'link') });
    expect((await lstat(join(parent, 'link'))).isSymbolicLink()).toBe(true);
    expect(await readdir(join(parent, 'real'))).toContain('prompt.json');
  });

  it('takes a lock before any work: a second run into the same folder fails at once; a dead run\'s lock is taken over', async () => {
    const parent = await tempDir();
    const out = join(parent, 'data');
    let second: Promise<unknown> | null = null;
    let rendered = 0;
    await generateDataset({
      ...opts, outDir: out, onProgress: () => {
        rendered++;
        if (second) return;
        second = generateDataset({ ...opts, outDir: out, onProgress: () => { throw new Error('the second run rendered'); } });
        second.catch(() => {}); // asserted once the first run is done
      },
    });
    await expect(second).rejects.toThrow(new RegExp(`another run \\(pid ${process.pid}, started .*\\) is writing .*data; wait for it to finish \\(its lock is .*\\.data\\.lock\\)`));
    expect(rendered).toBe(4);
    expect(await readdir(parent)).toEqual(['data']);

    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    await writeFile(join(parent, '.next.lock'), JSON.stringify({ pid: Number(gone.stdout), host: hostname(), started: 'earlier' }));
    const notes: string[] = [];
    await generateDataset({ ...opts, count: 1, outDir: join(parent, 'next'), onNotice: (m) => notes.push(m) });
    expect(notes).toEqual([expect.stringMatching(new RegExp(`removed a stale lock .*\\.next\\.lock \\(pid ${gone.stdout} is gone\\)`))]);
    expect((await readdir(parent)).sort()).toEqual(['data', 'next']);
  });

  it('checks the output path before rendering and words file-system failures as its own errors, naming the path', async () => {
    const parent = await tempDir();
    await writeFile(join(parent, 'file'), 'x');
    const never = () => {
      throw new Error('rendered before failing');
    };
    await expect(generateDataset({ ...opts, outDir: join(parent, 'file'), onProgress: never })).rejects.toThrow(/output path .*file is a file, not a folder/);
    await expect(generateDataset({ ...opts, outDir: join(parent, 'file', 'data'), onProgress: never })).rejects.toThrow(/output folder .*file\/data: a part of that path is a file, not a folder/);
    const err = fsProblem('write', Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', path: '/x/.data.partial/target/a.png' }));
    expect(err).toBeInstanceOf(GenerateError);
    expect(err.message).toBe('generate: cannot write /x/.data.partial/target/a.png: no space left on the device (ENOSPC)');
    expect(fsProblem('take the lock', Object.assign(new Error('EROFS'), { code: 'EROFS', path: '/ro/.data.lock' })).message).toBe('generate: cannot take the lock /ro/.data.lock: the file system is read-only (EROFS)');
    if (process.getuid?.() !== 0) { // root writes anywhere
      const ro = join(parent, 'ro');
      await mkdir(ro, { mode: 0o555 });
      await expect(generateDataset({ ...opts, outDir: join(ro, 'data'), onProgress: never })).rejects.toThrow(/generate: cannot take the lock .*ro\/\.data\.lock: permission denied \(EACCES\)/);
    }
    expect((await readdir(parent)).sort()).toEqual(process.getuid?.() !== 0 ? ['file', 'ro'] : ['file']);
  });

  it('refuses a non-empty output folder, an unknown blender and bad counts', async () => {
    const a = await tempDir();
    await generateDataset({ count: 1, seed: 1, width: 16, height: 16, blender: 'alpha', workers: 1, outDir: a });
    await expect(generateDataset({ count: 1, seed: 1, width: 16, height: 16, blender: 'alpha', workers: 1, outDir: a })).rejects.toThrow(/not empty/);
    await expect(generateDataset({ count: 1, seed: 1, width: 16, height: 16, blender: 'nope', workers: 1, outDir: await tempDir() })).rejects.toThrow(/unknown condition blender "nope"; registered: alpha, multiply/);
    await expect(generateDataset({ count: 0, seed: 1, width: 16, height: 16, blender: 'alpha', workers: 1, outDir: await tempDir() })).rejects.toThrow(/count must be an integer >= 1/);
  });
});
