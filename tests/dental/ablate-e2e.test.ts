/**
 * `ablate` end to end at the `smoke` sizes on the reference backend: a tiny base, then the
 * study with tiny step counts (lighting and segmentation on two seeds, the two-adapter arm
 * from them, one blend and the improved variant on the first seed), results.json and
 * report.html checked; a rerun reuses every training and evaluation; `--table` prints it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setDefaultBackend } from '../../core/backends/default.ts';
import { ReferenceBackend } from '../../core/backends/reference.ts';
import { generateDataset } from '../../examples/dental/generate.ts';
import { type AblateOptions, ablate, readAblationResults } from '../../examples/dental/recipe/ablate.ts';
import { pretrain } from '../../examples/dental/recipe/pretrain.ts';
import { type TrainingOptions, loggedLosses } from '../../examples/dental/recipe/run.ts';
import { SIZE_PRESETS } from '../../examples/dental/recipe/sizes.ts';
import { chromiumPath, renderPage } from './headless-chromium.ts';

let root: string, data: string, baseDir: string;
const backend = new ReferenceBackend();
setDefaultBackend(backend);

const training = (steps: number, extra: Partial<TrainingOptions> = {}): TrainingOptions => ({
  steps, batchSize: 1, lr: 1e-3, seed: 3, lrScheduler: 'constant', lrWarmupSteps: 0, adamBeta1: 0.9, adamBeta2: 0.999, adamWeightDecay: 0.01,
  adamEpsilon: 1e-8, maxGradNorm: 1, gradientAccumulationSteps: 1, checkpointEvery: 0, validateEvery: 0, progress: false, ...extra,
});
const evalSettings = { validationCount: 1, validationSteps: 1, guidanceScale: 2 };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dental-ablate-'));
  data = join(root, 'data');
  await generateDataset({ outDir: data, count: 20, seed: 4, width: 16, height: 16, blender: 'mask-composite', workers: 1 });
  const r = await pretrain({
    data, out: join(root, 'pre'), sizes: SIZE_PRESETS.smoke, backend, stage: 'all',
    training: { vae: training(2, { batchSize: 2 }), t2i: training(2, { batchSize: 2 }), controlnet: training(2, { batchSize: 2 }) },
    promptDropout: 0.1, minSnrGamma: null, noiseOffset: 0, ...evalSettings, command: 'test pretrain', log: () => {},
  });
  baseDir = r.baseDir;
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe('dental ablate (smoke sizes)', () => {
  const out = () => join(root, 'ablation');
  const options = (lines: string[]): AblateOptions => ({
    data, out: out(), base: baseDir, backend, seeds: [0, 1], arms: ['lighting', 'segmentation', 'dual', 'blend-alpha', 'blend-mask-composite', 'improved'],
    training: training(2), count: 2, sampler: { scheduler: 'ddim', steps: 2, guidanceScale: 2, seed: 7 },
    dualWeights: [[1, 1], [0.5, 0.5]], toothLossWeight: 3, promptDropout: 0.3, minSnrGamma: null, noiseOffset: 0, ...evalSettings,
    command: 'test ablate', log: (l) => lines.push(l),
  });

  it('trains every arm, measures every row on the same samples, writes results.json and a report that lists every arm', async () => {
    const lines: string[] = [];
    const { results, report, resultsPath } = await ablate(options(lines));
    // 2 seeds x (lighting, segmentation, blend-mask-composite, improved) + blend-alpha on the first seed
    expect(lines.filter((l) => / training 2 steps/.test(l))).toHaveLength(9);
    for (const arm of ['lighting', 'segmentation', 'improved']) for (const s of [0, 1]) expect(existsSync(join(out(), 'arms', arm, `seed-${s}`, 'adapter.safetensors'))).toBe(true);
    expect(existsSync(join(out(), 'arms', 'blend-alpha', 'seed-1'))).toBe(false);
    expect(JSON.parse(readFileSync(join(out(), 'arms', 'improved', 'seed-0', 'adapter.json'), 'utf8'))).toMatchObject({ condition: 'blend', blender: 'channel-stack', toothLossWeight: 3 });

    const written = readAblationResults(resultsPath);
    expect(written.format).toBe('ctrlora-ts/dental-ablation');
    expect(written.rows.map((r) => r.id)).toEqual(['no-control', 'lighting', 'segmentation', 'dual-1-1', 'dual-0.5-0.5', 'blend-alpha', 'blend-mask-composite', 'improved']);
    expect(written.rows.map((r) => r.seeds)).toEqual([[0], [0, 1], [0, 1], [0, 1], [0, 1], [0], [0, 1], [0, 1]]);
    // every other row against the seed's blend, sample by sample
    expect(written.reference).toBe('blend-mask-composite');
    const ref = results.rows.find((r) => r.id === 'blend-mask-composite')!, imp = results.rows.find((r) => r.id === 'improved')!;
    expect(ref.vsReference).toBeUndefined();
    const diff = (s: number) => imp.perSeed[s]!.samples.map((x, i) => x.psnr - ref.perSeed[s]!.samples[i]!.psnr).reduce((a, b) => a + b, 0) / 2;
    expect(imp.vsReference!.psnr.mean).toBeCloseTo((diff(0) + diff(1)) / 2, 10);
    expect(results.rows.filter((r) => r.vsReference)).toHaveLength(results.rows.length - 1);
    expect(written.settings).toMatchObject({ steps: 2, seeds: [0, 1], count: 2, sampler: { scheduler: 'ddim', steps: 2, seed: 7 }, toothLossWeight: 3, baseManifest: { command: 'test pretrain' } });
    expect(written.settings.samples).toHaveLength(2);
    for (const row of results.rows) {
      for (const p of row.perSeed) {
        expect(p.samples).toHaveLength(2);
        for (const m of ['psnr', 'ssim', 'psnr_teeth', 'detail_teeth'] as const) for (const s of p.samples) expect(Number.isFinite(s[m]), `${row.id} seed ${p.seed} ${m}`).toBe(true);
      }
      for (const m of ['psnr', 'ssim', 'psnr_teeth', 'ssim_teeth', 'detail_teeth', 'sharpness_teeth'] as const) {
        const s = row.summary[m];
        expect(Number.isFinite(s.mean) && Number.isFinite(s.ci95), `${row.id} ${m}`).toBe(true);
        expect(s.seeds).toBe(row.seeds.length);
        if (row.seeds.length === 2) expect(Number.isFinite(s.seedStd)).toBe(true);
        // the summary is the mean of the seed means, each the mean of its samples
        const seedMeans = row.perSeed.map((p) => p.samples.reduce((a, x) => a + x[m], 0) / p.samples.length);
        expect(s.mean).toBeCloseTo(seedMeans.reduce((a, b) => a + b, 0) / seedMeans.length, 10);
      }
      expect(row.summary.ssim.mean).toBeGreaterThan(-1);
      expect(row.summary.ssim.mean).toBeLessThanOrEqual(1);
      expect(existsSync(join(out(), row.grid))).toBe(true);
    }
    // the trained arms' seeds are different runs: their outputs differ
    const light = results.rows.find((r) => r.id === 'lighting')!;
    expect(light.perSeed[0]!.samples[0]!.psnr).not.toBe(light.perSeed[1]!.samples[0]!.psnr);

    const html = readFileSync(report, 'utf8');
    for (const row of results.rows) expect(html).toContain(`id="arm-${row.id}"`);
    expect(html).toContain('<table id="metrics">');
    expect(html).toContain('<table id="versus">');
    expect((html.match(/<img src="data:image\/png;base64,/g) ?? []).length).toBe(results.rows.length + 5); // grids + loss curves of lighting, segmentation, alpha, mask-composite, improved
    expect(html).not.toMatch(/src="(?!data:)/);
    expect(html).not.toContain('not written');
    // and the real report renders (where Chromium is installed; the browser test makes it mandatory under CI)
    if (chromiumPath()) {
      const page = await renderPage(report, 'document.querySelectorAll("#metrics tbody tr").length');
      expect(page.errors).toEqual([]);
      expect(page.images.every((i) => i.naturalWidth > 0)).toBe(true);
      expect(page.value).toBe(results.rows.length);
    }
  });

  it('a rerun reuses every training and evaluation and writes the same figures; a training that lost its adapter resumes from its checkpoint', async () => {
    const before = readFileSync(join(out(), 'results.json'), 'utf8');
    // as if killed after its last checkpoint: the adapter files are gone, the checkpoint is there
    const lost = join(out(), 'arms', 'segmentation', 'seed-1');
    const adapterBytes = readFileSync(join(lost, 'adapter.safetensors'));
    await rm(join(lost, 'adapter.safetensors'));
    await rm(join(lost, 'adapter.json'));
    // a mark in the log that only a resume keeps (a fresh run starts a fresh log)
    const events = join(lost, 'events.jsonl');
    await writeFile(events, readFileSync(events, 'utf8').replace(/"step":1,"loss":[^,]+/, '"step":1,"loss":123.5'));
    const lines: string[] = [];
    await ablate(options(lines));
    expect(lines.filter((l) => /training/.test(l))).toEqual([`ablate: [4/9] segmentation seed 1: training 2 steps (segmentation) into ${lost}`]);
    expect(Buffer.compare(readFileSync(join(lost, 'adapter.safetensors')), adapterBytes)).toBe(0);
    expect(loggedLosses(events).get(1)).toBe(123.5);
    expect(lines.filter((l) => /reused$/.test(l))).toHaveLength(8 + 14);
    const strip = (s: string) => { const j = JSON.parse(s); for (const r of j.rows) for (const p of r.perSeed) { delete p.trainingSeconds; delete p.finalLoss; } return j; };
    expect(strip(readFileSync(join(out(), 'results.json'), 'utf8'))).toEqual(strip(before));
  });

  it('refuses to reuse an adapter made under other settings, naming them', async () => {
    await expect(ablate({ ...options([]), toothLossWeight: 5 })).rejects.toThrow(/arms\/improved\/seed-0 holds an adapter made with toothLossWeight 3, not toothLossWeight 5/);
    await expect(ablate({ ...options([]), improvedBlender: 'alpha' })).rejects.toThrow(/holds an adapter made with blender "channel-stack", not blender "alpha"/);
  });

  it('ablate --table prints the Markdown table of a results.json; bad arms are named', () => {
    const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'examples/dental/cli.ts', 'ablate', ...args], { encoding: 'utf8' });
    const r = cli(['--table', join(out(), 'results.json')]);
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => l.startsWith('| '));
    expect(rows).toHaveLength(1 + 8 + 1 + 7); // the table, then the paired one (every row but the reference)
    expect(rows[0]).toContain('teeth SSIM');
    expect(r.stdout).toMatch(/\| \*\*lighting only\*\* \| 0, 1 \| \d+\.\d\d ± \d+\.\d\d \(sd \d+\.\d\d\) \|/);
    const bad = cli(['--arms', 'lighting,shadows']);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/unknown arm "shadows"/);
  });
});
