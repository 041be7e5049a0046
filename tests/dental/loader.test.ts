import 'reflect-metadata';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { container } from 'tsyringe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKENS } from '../../core/plugins/tokens.ts';
import { DentalDataset, DentalDataError } from '../../examples/dental/dataset.ts';
import { generateDataset } from '../../examples/dental/generate.ts';
import { ProceduralDentalDataset } from '../../examples/dental/procedural-dataset.ts';
import { promptFor } from '../../examples/dental/prompt.ts';
import { registerDentalDataset, registerProceduralDataset } from '../../examples/dental/register.ts';
import { AlphaBlender, MaskCompositeBlender } from '../../plugins/blenders/index.ts';

let base: string, gen: string;
const COUNT = 6;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'dental-loader-'));
  gen = join(base, 'generated');
  await generateDataset({ outDir: gen, count: COUNT, seed: 5, width: 32, height: 32, blender: 'mask-composite', workers: 1 });
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

/** A fresh copy of (parts of) the generated set, in the given layout. */
async function fixture(name: string, parts: string[]): Promise<string> {
  const dir = join(base, name);
  await mkdir(dir, { recursive: true });
  for (const p of parts) await cp(join(gen, p), join(dir, p), { recursive: true });
  return dir;
}

async function snapshot(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { recursive: true })) {
    const s = await stat(join(dir, e));
    out.push(`${e} ${s.size} ${s.mtimeMs}`);
  }
  return out.sort();
}

function collect(): { warn: (m: string) => void; messages: string[] } {
  const messages: string[] = [];
  return { warn: (m) => messages.push(m), messages };
}

describe('layouts', () => {
  it('reads the generator output: target in [-1, 1], conditions in [0, 1], maps matched by name', async () => {
    const ds = await DentalDataset.open(gen, { width: 32 });
    expect(ds.layout).toBe('generated');
    expect(ds.length).toBe(COUNT);
    const s = await ds.get(0);
    expect(s.name).toMatch(/^target\/(upper|lower)_\w+_\d{5}\.png$/);
    expect(s.prompt).toBe(promptFor(s.jaw!, s.view!));
    expect([s.target.width, s.target.height, s.target.channels]).toEqual([32, 32, 3]);
    expect(Math.min(...s.target.data)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...s.target.data)).toBeLessThanOrEqual(1);
    expect(Math.min(...s.target.data)).toBeLessThan(-0.5); // the dark background maps near -1
    for (const img of [s.condition, s.lighting!, s.segmentation!]) {
      expect(Math.min(...img.data)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...img.data)).toBeLessThanOrEqual(1);
    }
    // same size: decoded exactly as written
    const raw = await sharp(join(gen, s.name)).raw().toBuffer();
    expect(s.target.data[5]).toBeCloseTo(raw[5]! / 127.5 - 1, 6);
  });

  it('loads the extra maps asked for (depth, normal, edges), matched by name; refuses a missing folder or another layout', async () => {
    const ds = await DentalDataset.open(gen, { width: 32, maps: ['depth', 'normal', 'edges'] });
    const s = await ds.get(2);
    expect(Object.keys(s.maps!).sort()).toEqual(['depth', 'edges', 'normal']);
    for (const m of ['depth', 'normal', 'edges']) {
      const raw = await sharp(join(gen, s.name.replace('target/', `${m}/`))).raw().toBuffer();
      expect(s.maps![m]!.data[(32 * 16 + 16) * 3]).toBeCloseTo(raw[(32 * 16 + 16) * 3]! / 255, 6);
    }
    expect((await DentalDataset.open(gen, { width: 32 })).get(2).then((x) => x.maps)).resolves.toBeUndefined();
    await expect(DentalDataset.open(gen, { maps: ['albedo'] })).rejects.toThrow(/option maps: .*albedo does not exist/);
    await expect(DentalDataset.open(gen, { maps: ['target'] })).rejects.toThrow(/"target" is not an extra map folder name/);
    const ctrlora = await fixture('ctrlora-maps', ['prompt.json', 'source', 'target']);
    await expect(DentalDataset.open(ctrlora, { maps: ['depth'] })).rejects.toThrow(/option maps \(depth\) needs generator output/);
  });

  it('resizes and centre-crops to the training size, keeping segmentation colours flat', async () => {
    const ds = await DentalDataset.open(gen, { width: 24, height: 16 });
    const s = await ds.get(1);
    expect([s.target.width, s.target.height]).toEqual([24, 16]);
    expect(s.condition.data.length).toBe(24 * 16 * 3);
    const palette = new Set<string>();
    const raw = await sharp(join(gen, s.name.replace('target/', 'segmentation/'))).raw().toBuffer();
    for (let i = 0; i < raw.length; i += 3) palette.add(`${raw[i]},${raw[i + 1]},${raw[i + 2]}`);
    for (let p = 0; p < 24 * 16; p++) {
      const c = [0, 1, 2].map((k) => Math.round(s.segmentation!.data[p * 3 + k]! * 255)).join(',');
      expect(palette.has(c)).toBe(true);
    }
  });

  it('reads the CtrLoRA prompt.json layout', async () => {
    const dir = await fixture('ctrlora', ['prompt.json', 'source', 'target']);
    const ds = await DentalDataset.open(dir, { width: 32 });
    expect(ds.layout).toBe('prompt-json');
    expect(ds.length).toBe(COUNT);
    const s = await ds.get(2);
    expect(s.lighting).toBeUndefined();
    const raw = await sharp(join(dir, s.name.replace('target/', 'source/'))).raw().toBuffer();
    expect(s.condition.data[100]).toBeCloseTo(raw[100]! / 255, 6);
  });

  it('reads target/ lighting/ segmentation/ folders, blending the condition and taking the prompt from the name', async () => {
    const dir = await fixture('folders', ['target', 'lighting', 'segmentation']);
    await expect(DentalDataset.open(dir)).rejects.toThrow(/needs a blender/);
    const ds = await DentalDataset.open(dir, { width: 32, blender: new AlphaBlender(), blenderOptions: { weight: 1 } });
    expect(ds.layout).toBe('folders');
    const s = await ds.get(3);
    expect(s.prompt).toBe(promptFor(s.jaw!, s.view!));
    expect(Array.from(s.condition.data)).toEqual(Array.from(s.segmentation!.data)); // weight 1 = segmentation
  });

  it('reads grey, 16-bit and RGBA images as RGB in [0, 1]', async () => {
    const dir = await fixture('formats', ['target', 'lighting', 'segmentation']);
    const name = (await readdir(join(dir, 'lighting'))).sort()[0]!;
    const original = await sharp(join(gen, 'lighting', name)).raw().toBuffer();
    await sharp(join(gen, 'lighting', name)).greyscale().toColourspace('grey16').png().toFile(join(dir, 'lighting', name));
    await sharp(join(gen, 'target', name)).ensureAlpha().png().toFile(join(dir, 'target', name));
    const ds = await DentalDataset.open(dir, { width: 32, blender: new AlphaBlender(), blenderOptions: { weight: 0 } });
    const s = await ds.get(0);
    expect(s.name).toBe(`target/${name}`);
    expect(s.lighting!.channels).toBe(3);
    for (let p = 0; p < 32 * 32; p += 17) expect(s.lighting!.data[p * 3]!).toBeCloseTo(original[p * 3]! / 255, 1);
    expect(Math.max(...s.lighting!.data)).toBeLessThanOrEqual(1);
    expect(s.target.channels).toBe(3);
    expect(Array.from(s.condition.data)).toEqual(Array.from(s.lighting!.data)); // alpha 0 = lighting
  });

  it('registers under the Dataset token; the procedural dataset renders the same sample as the files', async () => {
    const c = container.createChildContainer();
    const ds = await registerDentalDataset(c, gen, { width: 32 });
    expect(c.resolve(TOKENS.Dataset)).toBe(ds);
    const proc = new ProceduralDentalDataset({ count: COUNT, seed: 5, width: 32, height: 32, blender: new MaskCompositeBlender() });
    const [a, b] = [await ds.get(4), await proc.get(4)];
    expect(b.name).toBe(a.name);
    expect(b.prompt).toBe(a.prompt);
    for (let i = 0; i < a.target.data.length; i += 37) expect(b.target.data[i]!).toBeCloseTo(a.target.data[i]!, 1);
    expect(Math.min(...b.target.data)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...b.condition.data)).toBeLessThanOrEqual(1);
    await expect(proc.get(COUNT)).rejects.toThrow(/index 6 out of range \[0, 6\)/);
    const c2 = container.createChildContainer();
    const registered = registerProceduralDataset(c2, { count: 2, seed: 1, width: 16, height: 16, blender: new MaskCompositeBlender() });
    expect(c2.resolve(TOKENS.Dataset)).toBe(registered);
    expect(registered.length).toBe(2);
  });
});

describe('split and flip', () => {
  it('splits by a seed into disjoint train and validation parts', async () => {
    const names = async (split: 'train' | 'val', splitSeed: number) => {
      const ds = await DentalDataset.open(gen, { split, valFraction: 0.34, splitSeed });
      return Promise.all(Array.from({ length: ds.length }, async (_, i) => (await ds.get(i)).name));
    };
    const train = await names('train', 1), val = await names('val', 1);
    expect(val).toHaveLength(2);
    expect(train).toHaveLength(4);
    expect(new Set([...train, ...val]).size).toBe(COUNT);
    expect(await names('val', 1)).toEqual(val);
  });

  it('mirrors every map and swaps left/right in the prompt', async () => {
    const plain = await DentalDataset.open(gen, { width: 32 });
    const flipped = await DentalDataset.open(gen, { width: 32, flip: 'always' });
    let sawSide = false;
    for (let i = 0; i < COUNT; i++) {
      const [a, b] = [await plain.get(i), await flipped.get(i)];
      expect(b.flipped).toBe(true);
      for (const key of ['target', 'condition', 'lighting', 'segmentation'] as const) {
        const A = a[key]!, B = b[key]!;
        for (const [x, y] of [[0, 5], [7, 20], [31, 31]] as const) {
          for (let c = 0; c < 3; c++) expect(B.data[(y * 32 + (31 - x)) * 3 + c]).toBe(A.data[(y * 32 + x) * 3 + c]);
        }
      }
      if (a.view === 'left' || a.view === 'right') {
        sawSide = true;
        expect(b.view).toBe(a.view === 'left' ? 'right' : 'left');
        expect(b.prompt).toBe(promptFor(a.jaw!, b.view!));
      } else expect(b.prompt).toBe(a.prompt);
    }
    expect(sawSide).toBe(true);
    // 'random': about half the samples, the same ones for the same flipSeed in every instance, others for another seed
    const flagsOf = async (flipSeed: number) => {
      const ds = await DentalDataset.open(gen, { flip: 'random', flipSeed });
      return { ds, flags: Array.from({ length: 400 }, (_, i) => ds.flipped(i)) };
    };
    const [r3, again, r4] = [await flagsOf(3), await flagsOf(3), await flagsOf(4)];
    expect(again.flags).toEqual(r3.flags);
    expect(r4.flags).not.toEqual(r3.flags);
    const share = r3.flags.filter(Boolean).length / r3.flags.length;
    expect(share).toBeGreaterThan(0.4);
    expect(share).toBeLessThan(0.6);
    for (let i = 0; i < COUNT; i++) expect((await r3.ds.get(i)).flipped).toBe(r3.flags[i]);
  });
});

describe('bad input', () => {
  it('a missing pair in the folders layout: error naming the file, or skip with a warning and a count', async () => {
    const dir = await fixture('missing-pair', ['target', 'lighting', 'segmentation']);
    const victim = (await readdir(join(dir, 'lighting')))[2]!;
    await unlink(join(dir, 'lighting', victim));
    await expect(DentalDataset.open(dir, { blender: new AlphaBlender() })).rejects.toThrow(
      `missing pair: target target/${victim} has no lighting map named ${victim.replace('.png', '')}.*`,
    );
    const extra = (await readdir(join(dir, 'segmentation')))[0]!;
    await cp(join(dir, 'segmentation', extra), join(dir, 'segmentation', 'upper_front_99999.png'));
    const { warn, messages } = collect();
    const ds = await DentalDataset.open(dir, { blender: new AlphaBlender(), skipInvalid: true, warn });
    expect(ds.length).toBe(COUNT - 1);
    expect(ds.skipped.map((s) => s.file).sort()).toEqual([`segmentation/upper_front_99999.png`, `target/${victim}`].sort());
    expect(messages.some((m) => m.includes('segmentation map segmentation/upper_front_99999.png has no target'))).toBe(true);
    expect(messages.at(-1)).toMatch(/skipped 2 bad sample\(s\) of 7/);
  });

  it('a missing file named in prompt.json', async () => {
    const dir = await fixture('missing-source', ['prompt.json', 'source', 'target']);
    const first = (await readdir(join(dir, 'source')))[0]!;
    await unlink(join(dir, 'source', first));
    await expect(DentalDataset.open(dir)).rejects.toThrow(`missing pair: source image source/${first} of sample target/${first} does not exist`);
    const { warn, messages } = collect();
    const ds = await DentalDataset.open(dir, { skipInvalid: true, warn });
    expect(ds.length).toBe(COUNT - 1);
    expect(messages.at(-1)).toMatch(/skipped 1 bad sample/);
  });

  it('an unreadable image', async () => {
    const dir = await fixture('unreadable', ['prompt.json', 'source', 'target']);
    const victim = (await readdir(join(dir, 'target')))[1]!;
    await writeFile(join(dir, 'target', victim), 'this is not a png');
    await expect(DentalDataset.open(dir)).rejects.toThrow(new RegExp(`unreadable image target/${victim} \\(target of target/${victim}\\)`));
    const ds = await DentalDataset.open(dir, { skipInvalid: true, warn: () => {} });
    expect(ds.length).toBe(COUNT - 1);
    expect(ds.skipped).toHaveLength(1);
  });

  it('an image whose data is corrupt behind a good header: found by verify "decode", or named when loaded', async () => {
    const dir = await fixture('truncated', ['prompt.json', 'source', 'target']);
    const victim = (await readdir(join(dir, 'target'))).sort()[0]!;
    const bytes = await readFile(join(dir, 'target', victim));
    await writeFile(join(dir, 'target', victim), bytes.subarray(0, Math.floor(bytes.length / 2))); // header intact, data cut
    const lazy = await DentalDataset.open(dir);
    expect(lazy.length).toBe(COUNT);
    let failed = '';
    for (let i = 0; i < COUNT; i++) {
      try {
        await lazy.get(i);
      } catch (e) {
        failed = (e as Error).message;
      }
    }
    expect(failed).toMatch(new RegExp(`unreadable image target/${victim}`));
    await expect(DentalDataset.open(dir, { verify: 'decode' })).rejects.toThrow(new RegExp(`unreadable image target/${victim} \\(target of target/${victim}\\)`));
    const ds = await DentalDataset.open(dir, { verify: 'decode', skipInvalid: true, warn: () => {} });
    expect(ds.length).toBe(COUNT - 1);
  });

  it('a path in prompt.json that escapes the dataset folder (relative, absolute, or through a link)', async () => {
    const dir = await fixture('escape', ['prompt.json', 'source', 'target']);
    const lines = (await readFile(join(dir, 'prompt.json'), 'utf8')).trim().split('\n');
    const outside = join(base, 'outside.png');
    await cp(join(gen, JSON.parse(lines[0]!).target), outside);
    await symlink(outside, join(dir, 'target', 'upper_front_link.png'));
    const bad = [
      { ...JSON.parse(lines[0]!), source: '../outside.png' },
      { ...JSON.parse(lines[1]!), target: outside },
      { ...JSON.parse(lines[2]!), target: 'target/../../outside.png' },
      { ...JSON.parse(lines[3]!), target: 'target/upper_front_link.png' },
    ];
    for (let i = 0; i < bad.length; i++) {
      const content = [...bad.slice(i, i + 1), ...lines.slice(4).map((l) => JSON.parse(l))].map((r) => JSON.stringify(r)).join('\n');
      await writeFile(join(dir, 'prompt.json'), content);
      const expected = [/line 1: path "..\/outside.png" escapes the dataset folder/, /line 1: path ".*outside.png" is absolute/, /line 1: path "target\/..\/..\/outside.png" escapes/, /line 1: path "target\/upper_front_link.png" links outside the dataset folder/][i]!;
      await expect(DentalDataset.open(dir)).rejects.toThrow(expected);
      const ds = await DentalDataset.open(dir, { skipInvalid: true, warn: () => {} });
      expect(ds.length).toBe(lines.length - 4);
      expect(ds.skipped[0]!.file).toBe('prompt.json:1');
    }
  });

  it('a listed map, or a whole map folder, that links outside the dataset folder', async () => {
    // folders layout: one lighting map is a link to a file outside
    const dir = await fixture('maplink', ['target', 'lighting', 'segmentation']);
    const victim = (await readdir(join(dir, 'lighting')))[0]!;
    const outside = join(base, 'outside-lighting.png');
    await cp(join(dir, 'lighting', victim), outside);
    await unlink(join(dir, 'lighting', victim));
    await symlink(outside, join(dir, 'lighting', victim));
    await expect(DentalDataset.open(dir, { blender: new AlphaBlender() })).rejects.toThrow(
      `lighting image lighting/${victim} of sample target/${victim} links outside the dataset folder`,
    );
    const ds = await DentalDataset.open(dir, { blender: new AlphaBlender(), skipInvalid: true, warn: () => {} });
    expect(ds.length).toBe(COUNT - 1);
    expect(ds.skipped.map((k) => k.file)).toEqual([`target/${victim}`]);

    // generator layout: segmentation/ itself is a link to a folder outside
    const linked = await fixture('dirlink', ['prompt.json', 'source', 'target', 'lighting']);
    await symlink(join(gen, 'segmentation'), join(linked, 'segmentation'));
    await expect(DentalDataset.open(linked)).rejects.toThrow(/segmentation image segmentation\/\S+\.png of sample target\/\S+ links outside the dataset folder/);
  });

  it('mismatched sizes within a sample', async () => {
    const dir = await fixture('sizes', ['target', 'lighting', 'segmentation']);
    const victim = (await readdir(join(dir, 'lighting')))[0]!;
    await sharp({ create: { width: 16, height: 16, channels: 3, background: '#808080' } }).png().toFile(join(dir, 'lighting', victim));
    await expect(DentalDataset.open(dir, { blender: new AlphaBlender() })).rejects.toThrow(
      `mismatched sizes in sample target/${victim}: target/${victim} is 32x32 but lighting/${victim} is 16x16`,
    );
    const ds = await DentalDataset.open(dir, { blender: new AlphaBlender(), skipInvalid: true, warn: () => {} });
    expect(ds.length).toBe(COUNT - 1);
  });

  it('a broken prompt.json line, an unreadable file name, an empty or missing folder, bad options', async () => {
    const dir = await fixture('badjson', ['prompt.json', 'source', 'target']);
    const lines = (await readFile(join(dir, 'prompt.json'), 'utf8')).trim().split('\n');
    await writeFile(join(dir, 'prompt.json'), [lines[0], '{"source": "x.png", oops', lines[1], '{"source": "a.png"}'].join('\n'));
    await expect(DentalDataset.open(dir)).rejects.toThrow(/prompt.json line 2: not valid JSON/);
    const { warn, messages } = collect();
    expect((await DentalDataset.open(dir, { skipInvalid: true, warn })).length).toBe(2);
    expect(messages.some((m) => /line 4: expected \{"source": string/.test(m))).toBe(true);

    const names = await fixture('badname', ['target', 'lighting', 'segmentation']);
    for (const f of ['target', 'lighting', 'segmentation']) {
      const first = (await readdir(join(names, f)))[0]!;
      await cp(join(names, f, first), join(names, f, 'scan_0001.png'));
    }
    await expect(DentalDataset.open(names, { blender: new AlphaBlender() })).rejects.toThrow(/target\/scan_0001.png: cannot read the jaw from file name "scan_0001.png"/);

    const empty = join(base, 'empty');
    await mkdir(empty);
    await expect(DentalDataset.open(empty)).rejects.toThrow(/has neither a prompt.json/);
    await expect(DentalDataset.open(join(base, 'nope'))).rejects.toThrow(/does not exist/);
    await expect(DentalDataset.open(join(gen, 'prompt.json'))).rejects.toThrow(/prompt.json is a file, not a dataset folder/);
    await expect(DentalDataset.open(gen, { width: 3 })).rejects.toThrow(/option width must be an integer >= 8/);
    await expect(DentalDataset.open(gen, { valFraction: 1 })).rejects.toThrow(DentalDataError);
    const ds = await DentalDataset.open(gen);
    await expect(ds.get(COUNT)).rejects.toThrow(/index 6 out of range/);
  });

  it('prompt.json that is a folder, links outside, is one JSON array, or lists a sample twice', async () => {
    const folder = await fixture('prompt-folder', ['source', 'target']);
    await mkdir(join(folder, 'prompt.json'));
    await expect(DentalDataset.open(folder)).rejects.toThrow(/prompt\.json is a folder, not a JSON Lines file/);

    const linked = await fixture('prompt-link', ['source', 'target']);
    await symlink(join(gen, 'prompt.json'), join(linked, 'prompt.json'));
    await expect(DentalDataset.open(linked)).rejects.toThrow(/prompt-link\/prompt\.json links outside the dataset folder/);

    const array = await fixture('prompt-array', ['source', 'target']);
    const lines = (await readFile(join(gen, 'prompt.json'), 'utf8')).trim().split('\n');
    await writeFile(join(array, 'prompt.json'), `[\n${lines.join(',\n')}\n]\n`);
    await expect(DentalDataset.open(array)).rejects.toThrow(/is one JSON array; the CtrLoRA format is JSON Lines: one \{"source", "target", "prompt"\} object per line/);
    await writeFile(join(array, 'prompt.json'), JSON.stringify(JSON.parse(lines[0]!), null, 2));
    await expect(DentalDataset.open(array)).rejects.toThrow(/line 1: not valid JSON \(prompt\.json is JSON Lines: one whole object per line\)/);

    const twice = await fixture('prompt-twice', ['source', 'target']);
    await writeFile(join(twice, 'prompt.json'), [...lines, lines[2]].join('\n'));
    await expect(DentalDataset.open(twice)).rejects.toThrow(new RegExp(`prompt.json line ${COUNT + 1}: duplicate sample: target ${JSON.parse(lines[2]!).target} is already listed on line 3`));
    const { warn, messages } = collect();
    expect((await DentalDataset.open(twice, { skipInvalid: true, warn })).length).toBe(COUNT);
    expect(messages.at(-1)).toMatch(new RegExp(`skipped 1 bad sample\\(s\\) of ${COUNT + 1}`));
  });

  it('two images of one name (x.jpg beside x.png) are ambiguous, not silently one of them', async () => {
    const dir = await fixture('two-of-one', ['prompt.json', 'source', 'target', 'lighting', 'segmentation']);
    const victim = (await readdir(join(dir, 'lighting'))).sort()[1]!;
    await sharp(join(dir, 'lighting', victim)).jpeg().toFile(join(dir, 'lighting', victim.replace('.png', '.jpg')));
    const stem = victim.replace('.png', '');
    await expect(DentalDataset.open(dir)).rejects.toThrow(`ambiguous sample: lighting/${stem}.jpg and lighting/${victim} share the name ${stem}; keep one`);
    const { warn, messages } = collect();
    const ds = await DentalDataset.open(dir, { skipInvalid: true, warn });
    expect(ds.length).toBe(COUNT - 1);
    expect(messages.some((m) => m.includes('ambiguous sample'))).toBe(true);

    const folders = await fixture('two-of-one-folders', ['target', 'lighting', 'segmentation']);
    await cp(join(folders, 'target', victim), join(folders, 'target', victim.replace('.png', '.webp')));
    await expect(DentalDataset.open(folders, { blender: new AlphaBlender() })).rejects.toThrow(`ambiguous sample: target/${victim} and target/${stem}.webp share the name ${stem}; keep one`);
  });

  it('a 1x1 image is refused; images smaller than the training size are upscaled with one warning', async () => {
    const dir = await fixture('tiny', ['prompt.json', 'source', 'target']);
    const first = JSON.parse((await readFile(join(dir, 'prompt.json'), 'utf8')).split('\n')[0]!) as { source: string; target: string };
    const dot = sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } }).png();
    await dot.toFile(join(dir, first.target));
    await dot.toFile(join(dir, first.source));
    await expect(DentalDataset.open(dir)).rejects.toThrow(`image ${first.target} (target of ${first.target}) is 1x1: too small to train on (at least 8x8)`);

    const { warn, messages } = collect();
    const ds = await DentalDataset.open(gen, { width: 64, height: 64, warn });
    expect(ds.length).toBe(COUNT);
    expect(messages).toEqual([expect.stringMatching(new RegExp(`${COUNT} of ${COUNT} samples are smaller than the 64x64 training size and are upscaled when loaded \\(blurry\\), e\\.g\\. target/\\S+ \\(32x32\\)`))]);
    const quiet = collect();
    await DentalDataset.open(gen, { width: 32, height: 32, warn: quiet.warn });
    expect(quiet.messages).toEqual([]);
  });

  it('writes nothing into the dataset folder', async () => {
    const dir = await fixture('readonly', ['prompt.json', 'source', 'target', 'lighting', 'segmentation']);
    const before = await snapshot(dir);
    for (const opts of [{}, { flip: 'always' as const, width: 16 }, { split: 'val' as const, valFraction: 0.5 }]) {
      const ds = await DentalDataset.open(dir, opts);
      for (let i = 0; i < ds.length; i++) await ds.get(i);
    }
    expect(await snapshot(dir)).toEqual(before);
  });
});
