/**
 * The dental Dataset plugin for data on disk: a user's real renders or the generator's output.
 * It reads, never writes. Three layouts, detected in this order:
 *  (c) generator output: `prompt.json` plus `lighting/` and `segmentation/` folders: as (a), and
 *      the lighting and segmentation maps are loaded too (matched by the target's file name);
 *  (a) CtrLoRA: `prompt.json`, JSON Lines of {"source", "target", "prompt"}, paths relative to
 *      the dataset folder (the source is the condition image);
 *  (b) folders `target/`, `lighting/`, `segmentation/` matched by file name (extension may
 *      differ); the prompt comes from the target's file name, the condition from a blender.
 * A configured condition source (condition.ts) always applies: a `blender` remakes the
 * condition from lighting + segmentation (also in the generated layout, instead of its baked
 * source/), an `extractor` derives it from the target; a blender on data without those maps
 * (layout a) is an error at open. Without either, the data's own source is used.
 * Every file is checked when the dataset is opened (exists, inside the folder, a readable
 * image, same size as the rest of its sample); a bad one is a clear error naming it, or, with
 * `skipInvalid`, a warning, a skipped sample and a count at the end. Images are decoded when a
 * sample is asked for: centre-cropped and resized to the training size with sharp; the target
 * scaled to [-1, 1] and the conditions to [0, 1] (the ctrLoRA convention).
 */
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import sharp from 'sharp';
import { Generator } from '../../core/random.ts';
import type { ConditionBlender, ConditionExtractor, Dataset, Image } from '../../core/plugins/tokens.ts';
import { checkConditionSource, makeCondition, type ConditionSource } from './condition.ts';
import { parseSampleName, promptFor, swapLeftRight } from './prompt.ts';
import { sampleSeed, type Jaw, type View } from './scene.ts';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.bmp', '.tif', '.tiff'];

export type DentalLayout = 'generated' | 'prompt-json' | 'folders';

export interface DentalSample {
  /** The target's path relative to the dataset folder. */
  name: string;
  prompt: string;
  jaw: Jaw | null;
  view: View | null;
  /** HWC, 3 channels, values in [-1, 1]. */
  target: Image;
  /** The condition image (the CtrLoRA source, or the blended maps), values in [0, 1]. */
  condition: Image;
  lighting?: Image;
  segmentation?: Image;
  /** The extra maps asked for with the `maps` option (generator output), values in [0, 1]. */
  maps?: Record<string, Image>;
  flipped: boolean;
}

export interface DentalDatasetOptions {
  /** Training size: images are centre-cropped to this aspect and resized (default 128). */
  width?: number;
  height?: number;
  /** Which part of the seeded split to serve (default 'all'). */
  split?: 'train' | 'val' | 'all';
  valFraction?: number;
  splitSeed?: number;
  /** Horizontal flip: never, always, or for about half the samples chosen by `flipSeed`. */
  flip?: 'none' | 'always' | 'random';
  flipSeed?: number;
  /**
   * How far files are checked at open: 'header' (default: size and format, fast) or 'decode'
   * (every image decoded once: also catches files whose data is corrupt behind a good header;
   * without it such a file fails, named, when its sample is loaded).
   */
  verify?: 'header' | 'decode';
  /** Skip bad samples with a warning instead of failing. */
  skipInvalid?: boolean;
  warn?: (message: string) => void;
  /**
   * Makes the condition from lighting + segmentation (required in the folders layout; in the
   * generated layout it replaces source/; an error on data with no lighting/segmentation maps).
   */
  blender?: ConditionBlender;
  blenderOptions?: Readonly<Record<string, unknown>>;
  /**
   * Further map folders of generator output to load with each sample (e.g. `['depth', 'normal',
   * 'edges']`), matched to the target by file name: a missing folder or file is a missing pair.
   */
  maps?: readonly string[];
  /** Makes the condition from the target render instead (canny, soft edges, a user's extractor). */
  extractor?: ConditionExtractor;
  extractorOptions?: Readonly<Record<string, unknown>>;
}

export class DentalDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DentalDataError';
  }
}

interface Entry {
  name: string;
  prompt: string;
  jaw: Jaw | null;
  view: View | null;
  target: string;
  source?: string;
  lighting?: string;
  segmentation?: string;
  maps?: Record<string, string>;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Resolves `p` inside `root`, refusing absolute paths and anything that leads out of it (also through links). */
async function insideRoot(root: string, realRoot: string, p: string, where: string): Promise<string> {
  if (typeof p !== 'string' || p.length === 0) throw new DentalDataError(`${where}: expected a relative file path, got ${JSON.stringify(p)}`);
  if (isAbsolute(p)) throw new DentalDataError(`${where}: path "${p}" is absolute; paths must be relative to the dataset folder ${root}`);
  const full = resolve(root, p);
  const rel = relative(root, full);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw new DentalDataError(`${where}: path "${p}" escapes the dataset folder ${root}`);
  if (await linksOutside(realRoot, full)) throw new DentalDataError(`${where}: path "${p}" links outside the dataset folder ${root}`);
  return full;
}

/** Whether an existing `file` resolves (through symbolic links, of the file or of a folder on its way) outside `realRoot`. */
async function linksOutside(realRoot: string, file: string): Promise<boolean> {
  if (!(await exists(file))) return false;
  const real = await realpath(file);
  return real !== realRoot && !real.startsWith(realRoot + sep);
}

/** Two images of one stem in one folder: which belongs to the sample is ambiguous. */
function ambiguity(folder: string, stem: string, files: string[]): string {
  return `ambiguous sample: ${files.map((f) => `${folder}/${basename(f)}`).join(' and ')} share the name ${stem}; keep one`;
}

/**
 * The images of a folder by file stem. Two images of one stem (`x.jpg` beside `x.png`) are
 * left out and reported to `onAmbiguous` (default: a DentalDataError), never silently one.
 */
async function listImages(
  dir: string,
  onAmbiguous: (stem: string, files: string[]) => void = (stem, files) => {
    throw new DentalDataError(ambiguity(basename(dir), stem, files));
  },
): Promise<Map<string, string>> {
  const byStem = new Map<string, string>();
  const ambiguous = new Map<string, string[]>();
  for (const f of (await readdir(dir)).sort()) {
    const ext = extname(f).toLowerCase();
    if (!IMAGE_EXTENSIONS.includes(ext)) continue;
    const stem = f.slice(0, f.length - ext.length);
    const earlier = byStem.get(stem) ?? ambiguous.get(stem)?.[0];
    if (earlier === undefined) {
      byStem.set(stem, join(dir, f));
      continue;
    }
    byStem.delete(stem);
    ambiguous.set(stem, [...(ambiguous.get(stem) ?? [earlier]), join(dir, f)]);
  }
  for (const [stem, files] of ambiguous) onAmbiguous(stem, files);
  return byStem;
}

/** The smallest image a sample may have (the smallest training size): anything below is not a picture. */
const MIN_IMAGE_SIDE = 8;

function stemOf(path: string): string {
  const base = path.split(/[\\/]/).pop()!;
  return base.slice(0, base.length - extname(base).length);
}

export class DentalDataset implements Dataset<DentalSample> {
  readonly name = 'dental';
  private constructor(
    readonly root: string,
    readonly layout: DentalLayout,
    private readonly entries: Entry[],
    /** Files skipped at open (with `skipInvalid`), each with its reason. */
    readonly skipped: ReadonlyArray<{ file: string; reason: string }>,
    private readonly o: Required<Omit<DentalDatasetOptions, keyof ConditionSource | 'warn' | 'maps'>> & ConditionSource & Pick<DentalDatasetOptions, 'maps'>,
  ) {}

  get length(): number {
    return this.entries.length;
  }

  /** Reads the layout in `root`, checks every file, and splits. */
  static async open(root: string, options: DentalDatasetOptions = {}): Promise<DentalDataset> {
    const o = {
      width: options.width ?? 128,
      height: options.height ?? options.width ?? 128,
      split: options.split ?? 'all',
      valFraction: options.valFraction ?? 0.1,
      splitSeed: options.splitSeed ?? 0,
      flip: options.flip ?? 'none',
      flipSeed: options.flipSeed ?? 0,
      skipInvalid: options.skipInvalid ?? false,
      verify: options.verify ?? 'header',
      blender: options.blender,
      blenderOptions: options.blenderOptions,
      maps: options.maps,
      extractor: options.extractor,
      extractorOptions: options.extractorOptions,
    };
    const warn = options.warn ?? ((m: string) => console.warn(m));
    for (const k of ['width', 'height'] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 8) throw new DentalDataError(`DentalDataset: option ${k} must be an integer >= 8, got ${o[k]}`);
    }
    if (!(o.valFraction >= 0 && o.valFraction < 1)) throw new DentalDataError(`DentalDataset: option valFraction must be in [0, 1), got ${o.valFraction}`);
    if (!['train', 'val', 'all'].includes(o.split)) throw new DentalDataError(`DentalDataset: option split must be train, val or all, got ${o.split}`);
    if (!['header', 'decode'].includes(o.verify)) throw new DentalDataError(`DentalDataset: option verify must be header or decode, got ${o.verify}`);
    if (!['none', 'always', 'random'].includes(o.flip)) throw new DentalDataError(`DentalDataset: option flip must be none, always or random, got ${o.flip}`);

    const absRoot = resolve(root);
    if (!(await exists(absRoot))) throw new DentalDataError(`DentalDataset: dataset folder ${absRoot} does not exist`);
    if (!(await stat(absRoot)).isDirectory()) throw new DentalDataError(`DentalDataset: ${absRoot} is a file, not a dataset folder`);
    const realRoot = await realpath(absRoot);
    const skipped: Array<{ file: string; reason: string }> = [];
    const fail = (file: string, reason: string): void => {
      if (!o.skipInvalid) throw new DentalDataError(reason);
      skipped.push({ file, reason });
      warn(`dental dataset: skipping ${file}: ${reason}`);
    };

    try {
      checkConditionSource(o, 'DentalDataset');
    } catch (e) {
      throw new DentalDataError((e as Error).message);
    }
    const promptJson = join(absRoot, 'prompt.json');
    const hasPromptJson = await exists(promptJson);
    const hasMaps = (await exists(join(absRoot, 'lighting'))) && (await exists(join(absRoot, 'segmentation')));
    let layout: DentalLayout;
    const candidates: Entry[] = [];
    /** Images of a listed folder, each ambiguous stem reported (or, with skipInvalid, skipped) as a bad sample. */
    const imagesOf = (folder: string) => listImages(join(absRoot, folder), (stem, files) => fail(`${folder}/${stem}.*`, ambiguity(folder, stem, files)));
    const extraNames = [...new Set(o.maps ?? [])];
    for (const m of extraNames) {
      if (!/^[a-z][a-z0-9-]*$/.test(m) || ['target', 'source', 'lighting', 'segmentation'].includes(m)) {
        throw new DentalDataError(`DentalDataset: option maps: "${m}" is not an extra map folder name (e.g. depth, normal, edges)`);
      }
    }
    if (extraNames.length && !(hasPromptJson && hasMaps)) {
      throw new DentalDataError(`DentalDataset: option maps (${extraNames.join(', ')}) needs generator output (prompt.json with lighting/ and segmentation/) in ${absRoot}`);
    }
    const extraFolders = new Map<string, Map<string, string>>();
    for (const m of extraNames) {
      if (!(await exists(join(absRoot, m)))) throw new DentalDataError(`DentalDataset: option maps: ${join(absRoot, m)} does not exist (generate writes ${m}/ beside target/)`);
      extraFolders.set(m, await imagesOf(m));
    }
    if (hasPromptJson) {
      layout = hasMaps ? 'generated' : 'prompt-json';
      if ((await stat(promptJson)).isDirectory()) throw new DentalDataError(`DentalDataset: ${promptJson} is a folder, not a JSON Lines file`);
      if (await linksOutside(realRoot, promptJson)) throw new DentalDataError(`DentalDataset: ${promptJson} links outside the dataset folder ${absRoot}`);
      if (o.blender && !hasMaps) {
        throw new DentalDataError(`DentalDataset: blender "${o.blender.name}" cannot apply to ${absRoot}: it has prompt.json with source images but no lighting/ and segmentation/ folders to blend; drop the blender to train on source/, or use an extractor`);
      }
      const lighting = hasMaps ? await imagesOf('lighting') : null;
      const segmentation = hasMaps ? await imagesOf('segmentation') : null;
      const text = await readFile(promptJson, 'utf8');
      if (/^\s*\[/.test(text)) {
        throw new DentalDataError(`DentalDataset: ${promptJson} is one JSON array; the CtrLoRA format is JSON Lines: one {"source", "target", "prompt"} object per line, no enclosing [ ]`);
      }
      const lines = text.split(/\r?\n/);
      /** The line that first named each target, to report duplicates. */
      const lineOfTarget = new Map<string, number>();
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!.trim();
        if (!line) continue;
        const where = `prompt.json line ${i + 1}`;
        try {
          let rec: unknown;
          try {
            rec = JSON.parse(line);
          } catch {
            throw new DentalDataError(`${where}: not valid JSON (prompt.json is JSON Lines: one whole object per line): ${line.slice(0, 80)}`);
          }
          const r = rec as Record<string, unknown>;
          if (!r || typeof r !== 'object' || typeof r.source !== 'string' || typeof r.target !== 'string' || typeof r.prompt !== 'string') {
            throw new DentalDataError(`${where}: expected {"source": string, "target": string, "prompt": string}`);
          }
          const target = await insideRoot(absRoot, realRoot, r.target, where);
          const source = await insideRoot(absRoot, realRoot, r.source, where);
          const first = lineOfTarget.get(target);
          if (first !== undefined) throw new DentalDataError(`${where}: duplicate sample: target ${r.target} is already listed on line ${first}`);
          lineOfTarget.set(target, i + 1);
          let jaw: Jaw | null = null, view: View | null = null;
          try {
            ({ jaw, view } = parseSampleName(r.target));
          } catch {
            // real data may use any names in prompt.json: the prompt is given, jaw/view stay unknown
          }
          const entry: Entry = { name: r.target, prompt: r.prompt, jaw, view, target, source };
          if (lighting && segmentation) {
            const stem = stemOf(r.target);
            const l = lighting.get(stem), s = segmentation.get(stem);
            if (!l || !s) throw new DentalDataError(`${where}: missing pair: no ${!l ? 'lighting' : 'segmentation'} map named ${stem}.* for target ${r.target}`);
            entry.lighting = l;
            entry.segmentation = s;
            if (extraFolders.size) entry.maps = {};
            for (const [m, files] of extraFolders) {
              const f = files.get(stem);
              if (!f) throw new DentalDataError(`${where}: missing pair: no ${m} map named ${stem}.* for target ${r.target}`);
              entry.maps![m] = f;
            }
          }
          candidates.push(entry);
        } catch (e) {
          if (!(e instanceof DentalDataError)) throw e;
          fail(`prompt.json:${i + 1}`, e.message);
        }
      }
    } else if ((await exists(join(absRoot, 'target'))) && hasMaps) {
      layout = 'folders';
      if (!o.blender && !o.extractor) throw new DentalDataError('DentalDataset: the folders layout (target/, lighting/, segmentation/) needs a blender (e.g. mask-composite) or an extractor to make the condition image');
      const targets = await imagesOf('target');
      const lighting = await imagesOf('lighting');
      const segmentation = await imagesOf('segmentation');
      for (const [stem, target] of targets) {
        const rel = relative(absRoot, target);
        try {
          const l = lighting.get(stem), s = segmentation.get(stem);
          if (!l || !s) throw new DentalDataError(`missing pair: target ${rel} has no ${!l ? 'lighting' : 'segmentation'} map named ${stem}.*`);
          let parsed;
          try {
            parsed = parseSampleName(rel);
          } catch (e) {
            throw new DentalDataError(`${rel}: ${(e as Error).message}`);
          }
          candidates.push({ name: rel, prompt: '', jaw: parsed.jaw, view: parsed.view, target, lighting: l, segmentation: s });
        } catch (e) {
          if (!(e instanceof DentalDataError)) throw e;
          fail(rel, e.message);
        }
      }
      for (const [kind, maps] of [['lighting', lighting], ['segmentation', segmentation]] as const) {
        for (const [stem, file] of maps) {
          if (!targets.has(stem)) fail(relative(absRoot, file), `missing pair: ${kind} map ${relative(absRoot, file)} has no target named ${stem}.*`);
        }
      }
      for (const c of candidates) c.prompt = promptFor(c.jaw!, c.view!);
    } else {
      throw new DentalDataError(
        `DentalDataset: ${absRoot} has neither a prompt.json (CtrLoRA layout) nor target/, lighting/ and segmentation/ folders`,
      );
    }

    // Every file of every sample: present, a readable image, and the same size as its target.
    const entries: Entry[] = [];
    /** Samples smaller than the training size (upscaled when loaded: blurry), for one warning. */
    const upscaled: string[] = [];
    for (const e of candidates) {
      try {
        const files = { target: e.target, source: e.source, lighting: e.lighting, segmentation: e.segmentation, ...e.maps };
        let size: { width: number; height: number; file: string } | null = null;
        for (const [role, file] of Object.entries(files)) {
          if (!file) continue;
          const rel = relative(absRoot, file);
          if (!(await exists(file))) throw new DentalDataError(`missing pair: ${role} image ${rel} of sample ${e.name} does not exist`);
          // Files found by listing a folder (maps, the folders layout's targets) may be links too.
          if (await linksOutside(realRoot, file)) throw new DentalDataError(`${role} image ${rel} of sample ${e.name} links outside the dataset folder ${absRoot}`);
          let meta;
          try {
            meta = await sharp(file).metadata();
          } catch (err) {
            throw new DentalDataError(`unreadable image ${rel} (${role} of ${e.name}): ${(err as Error).message}`);
          }
          if (!meta.width || !meta.height) throw new DentalDataError(`unreadable image ${rel} (${role} of ${e.name}): no size in its header`);
          if (meta.width < MIN_IMAGE_SIDE || meta.height < MIN_IMAGE_SIDE) {
            throw new DentalDataError(`image ${rel} (${role} of ${e.name}) is ${meta.width}x${meta.height}: too small to train on (at least ${MIN_IMAGE_SIDE}x${MIN_IMAGE_SIDE})`);
          }
          if (o.verify === 'decode') {
            try {
              await sharp(file).raw().toBuffer();
            } catch (err) {
              throw new DentalDataError(`unreadable image ${rel} (${role} of ${e.name}): ${(err as Error).message}`);
            }
          }
          if (!size) size = { width: meta.width, height: meta.height, file: rel };
          else if (size.width !== meta.width || size.height !== meta.height) {
            throw new DentalDataError(`mismatched sizes in sample ${e.name}: ${size.file} is ${size.width}x${size.height} but ${rel} is ${meta.width}x${meta.height}`);
          }
        }
        if (size && (size.width < o.width || size.height < o.height)) upscaled.push(`${size.file} (${size.width}x${size.height})`);
        entries.push(e);
      } catch (err) {
        if (!(err instanceof DentalDataError)) throw err;
        fail(e.name, err.message);
      }
    }
    if (upscaled.length) {
      warn(`dental dataset: ${upscaled.length} of ${entries.length} samples are smaller than the ${o.width}x${o.height} training size and are upscaled when loaded (blurry), e.g. ${upscaled.slice(0, 3).join(', ')}`);
    }
    if (skipped.length) warn(`dental dataset: skipped ${skipped.length} bad sample(s) of ${skipped.length + entries.length} in ${absRoot}`);
    if (entries.length === 0) throw new DentalDataError(`DentalDataset: no usable samples in ${absRoot}`);

    // Seeded split over a fixed order (sorted by target path), so it is the same on every machine.
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const order = entries.map((_, i) => i);
    const g = new Generator(o.splitSeed);
    for (let i = order.length - 1; i > 0; i--) {
      const j = g.int(0, i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const nVal = Math.round(entries.length * o.valFraction);
    const chosen = o.split === 'all' ? entries : (o.split === 'val' ? order.slice(0, nVal) : order.slice(nVal)).map((i) => entries[i]!);
    return new DentalDataset(absRoot, layout, chosen, skipped, o);
  }

  /** Whether sample `index` is served mirrored. */
  flipped(index: number): boolean {
    if (this.o.flip === 'none') return false;
    if (this.o.flip === 'always') return true;
    return (sampleSeed(this.o.flipSeed, index) & 1) === 1;
  }

  private async load(file: string, nearest: boolean, flip: boolean, scale: 'signed' | 'unit'): Promise<Image> {
    const rel = relative(this.root, file);
    let out;
    try {
      let img = sharp(file).removeAlpha().toColourspace('srgb').resize(this.o.width, this.o.height, {
        fit: 'cover', position: 'centre', kernel: nearest ? 'nearest' : 'lanczos3',
      });
      if (flip) img = img.flop();
      out = await img.raw().toBuffer({ resolveWithObject: true });
    } catch (err) {
      throw new DentalDataError(`unreadable image ${rel}: ${(err as Error).message}`);
    }
    const { data, info } = out;
    if (info.channels !== 3) throw new DentalDataError(`image ${rel} decoded to ${info.channels} channels, expected 3`);
    const f = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) f[i] = scale === 'signed' ? data[i]! / 127.5 - 1 : data[i]! / 255;
    return { width: info.width, height: info.height, channels: 3, data: f };
  }

  async get(index: number): Promise<DentalSample> {
    if (!Number.isInteger(index) || index < 0 || index >= this.entries.length) {
      throw new RangeError(`DentalDataset.get: index ${index} out of range [0, ${this.entries.length})`);
    }
    const e = this.entries[index]!;
    const flip = this.flipped(index);
    const target = await this.load(e.target, false, flip, 'signed');
    const lighting = e.lighting ? await this.load(e.lighting, false, flip, 'unit') : undefined;
    const segmentation = e.segmentation ? await this.load(e.segmentation, true, flip, 'unit') : undefined;
    const unitTarget = this.o.extractor ? { ...target, data: target.data.map((v) => (v + 1) / 2) } : target;
    let condition = makeCondition(this.o, { target: unitTarget, ...(lighting ? { lighting } : {}), ...(segmentation ? { segmentation } : {}) }, `DentalDataset ${e.name}`);
    // no configured source: the data's own condition (open() refuses the folders layout without one)
    condition ??= await this.load(e.source!, false, flip, 'unit');
    let maps: Record<string, Image> | undefined;
    if (e.maps) {
      maps = {};
      for (const [m, file] of Object.entries(e.maps)) maps[m] = await this.load(file, false, flip, 'unit');
    }
    const swap = (v: View | null): View | null => (flip && v === 'left' ? 'right' : flip && v === 'right' ? 'left' : v);
    return {
      name: e.name,
      prompt: flip ? swapLeftRight(e.prompt) : e.prompt,
      jaw: e.jaw,
      view: swap(e.view),
      target, condition, flipped: flip,
      ...(lighting ? { lighting } : {}),
      ...(segmentation ? { segmentation } : {}),
      ...(maps ? { maps } : {}),
    };
  }
}
