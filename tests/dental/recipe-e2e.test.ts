/**
 * The dental recipe end to end at the `smoke` sizes (16 px, 8x8 latents) on the reference
 * backend: pretrain (three stages) -> base with a manifest, train an adapter on the blend
 * condition, sample with it and a base condition's set; then kill -9 a `train` run through the
 * CLI and resume it: the log must hold the uninterrupted run's losses, step for step.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setDefaultBackend } from '../../core/backends/default.ts';
import { ReferenceBackend } from '../../core/backends/reference.ts';
import { loadSafetensors } from '../../core/io/safetensors.ts';
import { generateDataset } from '../../examples/dental/generate.ts';
import { trainAdapter } from '../../examples/dental/recipe/adapter.ts';
import { loadBase } from '../../examples/dental/recipe/models.ts';
import { STAGES, pretrain, verifyManifest } from '../../examples/dental/recipe/pretrain.ts';
import { loggedLosses, type TrainingOptions } from '../../examples/dental/recipe/run.ts';
import { sampleCommand } from '../../examples/dental/recipe/sampling.ts';
import { SIZE_PRESETS } from '../../examples/dental/recipe/sizes.ts';
import { blenderByName, blenderContainer } from '../../plugins/blenders/index.ts';

let root: string, data: string;
const backend = new ReferenceBackend();
setDefaultBackend(backend);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dental-recipe-'));
  data = join(root, 'data');
  await generateDataset({ outDir: data, count: 20, seed: 4, width: 16, height: 16, blender: 'mask-composite', workers: 1 });
});
afterAll(() => rm(root, { recursive: true, force: true }));

const training = (steps: number, extra: Partial<TrainingOptions> = {}): TrainingOptions => ({
  steps, batchSize: 2, lr: 1e-3, seed: 3, lrScheduler: 'constant', lrWarmupSteps: 0, adamBeta1: 0.9, adamBeta2: 0.999, adamWeightDecay: 0.01,
  adamEpsilon: 1e-8, maxGradNorm: 1, gradientAccumulationSteps: 1, checkpointEvery: 2, validateEvery: 0, progress: false, ...extra,
});
const evalSettings = { validationCount: 2, validationSteps: 2, guidanceScale: 2 };
const stepsOf = (events: string) => readFileSync(events, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.type === 'step');

describe('dental recipe, end to end (smoke sizes)', () => {
  let baseDir: string;

  it('pretrain: three stages into a base folder with f16 weights, LoRA sets per base condition and a manifest that checks', async () => {
    const out = join(root, 'pre');
    const r = await pretrain({
      data, out, sizes: SIZE_PRESETS.smoke, backend, stage: 'all',
      training: { vae: training(3), t2i: training(3), controlnet: training(4) },
      promptDropout: 0.1, minSnrGamma: 5, noiseOffset: 0, ...evalSettings, command: 'test', log: () => {},
    });
    baseDir = r.baseDir;
    for (const s of STAGES) {
      expect(r.stages[s]!.steps).toBe(s === 'controlnet' ? 4 : 3);
      const steps = stepsOf(join(out, s, 'events.jsonl'));
      expect(steps.map((e) => e.step)).toEqual(s === 'controlnet' ? [1, 2, 3, 4] : [1, 2, 3]);
      expect(steps.every((e) => Number.isFinite(e.loss) && e.loss > 0)).toBe(true);
      expect(existsSync(join(out, s, 'loss.png'))).toBe(true);
      expect((await readdir(join(out, s, 'checkpoints'))).sort()).toContain('step-00000002');
      expect((await readdir(join(out, s, 'samples'))).length).toBeGreaterThan(0); // the final validation grid
    }
    const files = (await readdir(baseDir)).sort();
    expect(files).toEqual([
      'controlnet.safetensors', 'lora-depth.safetensors', 'lora-edges.safetensors', 'lora-normal.safetensors', 'lora-segmentation.safetensors',
      'manifest.json', 'model.json', 'text-encoder.safetensors', 'tokenizer.json', 'unet.safetensors', 'vae.safetensors',
    ]);
    const { tensors } = await loadSafetensors(join(baseDir, 'unet.safetensors'));
    expect(tensors.size).toBeGreaterThan(10);
    const header = JSON.parse((await readFile(join(baseDir, 'unet.safetensors'))).subarray(8, 8 + Number((await readFile(join(baseDir, 'unet.safetensors'))).readBigUInt64LE(0))).toString());
    expect(new Set(Object.entries(header).filter(([k]) => k !== '__metadata__').map(([, v]) => (v as { dtype: string }).dtype))).toEqual(new Set(['F16']));
    const manifest = JSON.parse(await readFile(join(baseDir, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ command: 'test', seed: 3, stages: { vae: { steps: 3 }, t2i: { steps: 3 }, controlnet: { steps: 4 } } });
    expect(manifest.stages.vae.metrics.psnr_target).toBeGreaterThan(0);
    expect(manifest.stages.vae.metrics.scaling_factor).toBeGreaterThan(0);
    expect(await verifyManifest(baseDir)).toEqual([]);
    // the base loads: every model on the reference backend, frozen, with its four condition sets
    const base = await loadBase(baseDir, { backend });
    expect(base.conditions).toEqual(['depth', 'normal', 'edges', 'segmentation']);
    expect(base.unet.parameters()[0]!.backend).toBe(backend);
    expect(base.controlnet.numParameters().trainable).toBe(0);
  });

  it('verifyManifest names a changed, a missing and an unlisted file', async () => {
    const copy = join(root, 'base-copy');
    await (await import('node:fs/promises')).cp(baseDir, copy, { recursive: true });
    const bytes = await readFile(join(copy, 'vae.safetensors'));
    bytes[bytes.length - 1] ^= 1;
    await writeFile(join(copy, 'vae.safetensors'), bytes);
    await rm(join(copy, 'tokenizer.json'));
    await writeFile(join(copy, 'extra.bin'), 'x');
    expect(await verifyManifest(copy)).toEqual([
      'extra.bin: in the folder but not in the manifest', 'tokenizer.json: in the manifest but missing', 'vae.safetensors: sha256 differs from the manifest',
    ]);
  });

  let adapterPath: string;
  it('train: the blend adapter learns only LoRA + zero convs + norms; its file and description load back', async () => {
    const out = join(root, 'adapter');
    const r = await trainAdapter({
      data, out, base: baseDir, backend, condition: 'blend', blender: blenderByName(blenderContainer(), 'alpha'), blenderName: 'alpha', blenderOptions: { weight: 0.4 },
      training: training(3, { batchSize: 1, validateEvery: 2 }), promptDropout: 0.3, minSnrGamma: null, noiseOffset: 0, ...evalSettings, scheduler: 'ddim',
    });
    adapterPath = r.adapterPath;
    expect(r.step).toBe(3);
    expect(Number.isFinite(r.metrics.psnr)).toBe(true);
    expect((await readdir(join(out, 'samples'))).sort()).toEqual(['step-000002.png', 'step-000003.png']);
    const grid = await sharp(join(out, 'samples', 'step-000003.png')).metadata();
    expect(grid.width).toBeGreaterThan(3 * 96); // input | output | target, upscaled tiles
    const { tensors } = await loadSafetensors(adapterPath);
    const keys = [...tensors.keys()];
    expect(keys.every((k) => k.includes('.lora.blend.') || k.startsWith('controlnet_down_blocks.') || k.startsWith('controlnet_mid_block.') || /attentions\.\d+\.(norm|transformer_blocks\.\d+\.norm\d)\./.test(k))).toBe(true);
    const ups = keys.filter((k) => k.endsWith('.up.weight'));
    expect(ups.length).toBeGreaterThan(10);
    expect(ups.some((k) => tensors.get(k)!.abs().sum().item() > 0)).toBe(true); // up starts at zero: it trained
    expect(JSON.parse(await readFile(join(out, 'adapter.json'), 'utf8'))).toMatchObject({ name: 'blend', condition: 'blend', blender: 'alpha', blenderOptions: { weight: 0.4 }, steps: 3 });
    // the frozen base did not move: the base UNet file is unchanged (manifest still checks)
    expect(await verifyManifest(baseDir)).toEqual([]);
  });

  it('sample: two adapters with weights, a no-control baseline, grid + single images + metrics', async () => {
    const out = join(root, 'samples');
    const r = await sampleCommand({
      base: baseDir, adapters: [{ path: adapterPath, weight: 1 }, { path: 'base:depth', weight: 0.5 }], out, backend, data, split: 'all', count: 3,
      scheduler: 'euler', steps: 2, guidanceScale: 2, controlStrength: 1, seed: 1, baseline: true,
    });
    expect(r.images).toHaveLength(3);
    expect(r.metrics).toMatchObject({ count: 3 });
    for (const k of ['psnr', 'ssim', 'psnr_no_control', 'ssim_no_control']) expect(Number.isFinite(r.metrics![k])).toBe(true);
    // blend x1 | depth x0.5 | output | no control | target
    const grid = await sharp(r.grid).metadata();
    expect(grid.width).toBe(5 * 96 + 6 * 2);
    await expect(sampleCommand({
      base: baseDir, adapters: [{ path: 'base:lighting', weight: 1 }], out, backend, data, split: 'all', count: 1, scheduler: 'ddim', steps: 1, guidanceScale: 1, controlStrength: 1, seed: 0, baseline: false,
    })).rejects.toThrow(/the base has no "lighting" set \(it has depth, normal, edges, segmentation\)/);
  });

  it('train through the CLI, killed with SIGKILL and resumed with --resume latest, logs the same losses step for step', async () => {
    const args = (out: string) => [
      '--import', 'tsx', 'examples/dental/cli.ts', 'train', '--data', data, '--base', baseDir, '--out', out, '--backend', 'reference',
      '--steps', '12', '--checkpoint-every', '3', '--validate-every', '0', '--validation-count', '1', '--validation-steps', '1', '--no-progress', '--seed', '5',
    ];
    const run = (out: string, extra: string[] = [], killAfterStep?: number) => new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [...args(out), ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.stdout.on('data', () => {});
      child.on('error', reject);
      child.on('close', (code, signal) => { clearInterval(watch); resolve({ code, signal, stderr }); });
      // kill once the log shows the step (event-driven: the log is polled, no fixed delay)
      const watch = setInterval(() => {
        if (killAfterStep === undefined) return;
        const events = join(out, 'events.jsonl');
        if (existsSync(events) && [...loggedLosses(events).keys()].some((s) => s >= killAfterStep)) {
          clearInterval(watch);
          child.kill('SIGKILL');
        }
      }, 20);
    });
    const ref = join(root, 'cli-ref'), killed = join(root, 'cli-killed');
    const a = await run(ref);
    expect(a.code, a.stderr).toBe(0);
    const b = await run(killed, [], 5);
    expect(b.signal, b.stderr).toBe('SIGKILL');
    const partial = loggedLosses(join(killed, 'events.jsonl'));
    expect(partial.size).toBeLessThan(12);
    const c = await run(killed, ['--resume', 'latest']);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).toMatch(/backend: reference/);
    const expected = loggedLosses(join(ref, 'events.jsonl')), got = loggedLosses(join(killed, 'events.jsonl'));
    expect([...got.keys()]).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    for (const [step, loss] of expected) expect(got.get(step), `step ${step}`).toBe(loss);
    // and the adapters are the same bytes
    expect(Buffer.compare(await readFile(join(ref, 'adapter.safetensors')), await readFile(join(killed, 'adapter.safetensors')))).toBe(0);
  });

  it('train --recipe uses a user\'s blender and its settings; --extractor learns a condition extracted from the render; sample --recipe resolves both', async () => {
    const recipes = join(root, 'recipes');
    await mkdir(recipes, { recursive: true });
    await writeFile(join(recipes, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    await writeFile(join(recipes, 'darken.ts'), `
import { TOKENS, type Image, type PluginContainer } from ${JSON.stringify(join(process.cwd(), 'core/index.ts'))};
export function register(container: PluginContainer): void {
  container.register(TOKENS.ConditionBlender, 'darken', { useValue: {
    name: 'darken',
    blend: (l: Image, s: Image): Image => ({ ...l, data: l.data.map((v, i) => Math.min(v, s.data[i]!)) }),
  } });
}
`);
    await writeFile(join(recipes, 'darken.json'), JSON.stringify({
      plugins: [{ module: './darken.ts' }], select: { ConditionBlender: 'darken' }, train: { out: 'adapter-darken', steps: 2, batchSize: 1 },
    }));
    const cli = (...a: string[]) => new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'examples/dental/cli.ts', ...a], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    });
    const quick = ['--data', data, '--base', baseDir, '--backend', 'reference', '--validate-every', '0', '--validation-count', '1', '--validation-steps', '1', '--no-progress'];
    const a = await cli('train', '--recipe', join(recipes, 'darken.json'), ...quick);
    expect(a.code, a.stderr).toBe(0);
    const darkInfo = JSON.parse(await readFile(join(recipes, 'adapter-darken', 'adapter.json'), 'utf8'));
    expect(darkInfo).toMatchObject({ condition: 'blend', blender: 'darken', steps: 2 });
    const e = await cli('train', '--extractor', 'canny', '--steps', '2', '--out', join(root, 'adapter-canny'), ...quick);
    expect(e.code, e.stderr).toBe(0);
    expect(JSON.parse(await readFile(join(root, 'adapter-canny', 'adapter.json'), 'utf8'))).toMatchObject({ condition: 'source', extractor: 'canny', blender: null });
    // a user's blender name does not resolve without its recipe, and does with it
    const sampleArgs = ['sample', '--base', baseDir, '--data', data, '--count', '1', '--steps', '1', '--backend', 'reference', '--adapter', join(recipes, 'adapter-darken', 'adapter.safetensors')];
    const without = await cli(...sampleArgs, '--out', join(root, 'samples-darken-0'));
    expect(without.code).not.toBe(0);
    expect(without.stderr).toMatch(/darken/);
    const withRecipe = await cli(...sampleArgs, '--adapter', join(root, 'adapter-canny', 'adapter.safetensors'), '--recipe', join(recipes, 'darken.json'), '--out', join(root, 'samples-darken'));
    expect(withRecipe.code, withRecipe.stderr).toBe(0);
    expect(existsSync(join(root, 'samples-darken', 'grid.png'))).toBe(true);
  });
});
