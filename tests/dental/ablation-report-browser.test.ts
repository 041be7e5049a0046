/**
 * The ablation report renders in a real browser: a small report written by the report writer
 * (hand-made figures and small PNG grids and loss curves) opened in headless Chromium; every
 * image must load, the metrics table must be there with a row per arm, and the page must log
 * no error. A control page with a broken image and a console error proves the check can fail.
 * Skips, saying why, where Chromium is not installed, except under CI (CI=true), where .ci/run
 * installs Debian's chromium and this test is mandatory.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AblationResults, AblationRow } from '../../examples/dental/recipe/ablate.ts';
import { METRIC_NAMES, type MetricName, type SampleMetrics, acrossSeeds, summarize } from '../../examples/dental/recipe/ablation-metrics.ts';
import { writeAblationReport } from '../../examples/dental/recipe/ablation-report.ts';
import { chromiumPath, renderPage } from './headless-chromium.ts';

const exe = chromiumPath();
const ci = process.env.CI === 'true';
if (!exe && !ci) console.warn('ablation-report-browser: skipped: no chromium at /usr/bin/chromium (or CHROMIUM_PATH); Debian: apt-get install chromium');

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'ablation-report-')); });
afterAll(() => rm(dir, { recursive: true, force: true }));

async function png(path: string, w: number, h: number, rgb: [number, number, number]) {
  await mkdir(join(path, '..'), { recursive: true });
  await sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toFile(path);
}

function row(id: string, label: string, seeds: number[], base: number): AblationRow {
  const perSeed = seeds.map((seed) => {
    const samples = [0, 1, 2].map((i) => Object.fromEntries(METRIC_NAMES.map((m, k) => [m, base + 0.1 * k + 0.01 * i + 0.02 * seed])) as SampleMetrics);
    const metrics = Object.fromEntries(METRIC_NAMES.map((m) => [m, summarize(samples.map((s) => s[m]))])) as AblationRow['perSeed'][number]['metrics'];
    return { seed, metrics, samples };
  });
  return {
    id, label, kind: id === 'no-control' ? 'baseline' : 'trained', conditions: [], headline: seeds.length > 1, seeds, perSeed,
    summary: Object.fromEntries(METRIC_NAMES.map((m) => [m, acrossSeeds(perSeed.map((p) => p.metrics[m as MetricName]))])) as AblationRow['summary'],
    grid: `eval/${id}/grid-seed-0.png`, lossCurves: id === 'no-control' ? [] : [{ label: `${id}, seed 0`, path: `arms/${id}/seed-0/loss.png` }],
  };
}

describe.skipIf(!exe && !ci)('ablation report in headless Chromium', () => {
  it('every image loads, the table has a row per arm, no console error', async () => {
    const rows = [row('no-control', 'no control (base alone)', [0], 10), row('lighting', 'lighting only', [0, 1], 20), row('blend-alpha', 'blend (alpha)', [0], 22)];
    for (const r of rows) {
      await png(join(dir, r.grid), 300, 200, [40, 120, 200]);
      for (const c of r.lossCurves) await png(join(dir, c.path), 320, 160, [250, 250, 250]);
    }
    const results: AblationResults = {
      format: 'ctrlora-ts/dental-ablation', version: 1,
      settings: {
        command: 'npm run dental -- ablate --steps 2 <script>', base: 'base', baseManifest: null, data: 'data', steps: 2, seeds: [0, 1], count: 3, samples: ['a', 'b', 'c'],
        sampler: { scheduler: 'ddim', steps: 2, guidanceScale: 3, seed: 0 },
        training: { lr: 1e-4, batchSize: 1, lrScheduler: 'constant', promptDropout: 0.3, minSnrGamma: null, noiseOffset: 0 }, dualWeights: [[1, 1]], toothLossWeight: 3, improvedBlender: 'mask-composite',
      },
      metrics: METRIC_NAMES, reference: 'blend-alpha', rows,
    };
    for (const r of rows.slice(0, 2)) r.vsReference = r.summary;
    const report = await writeAblationReport(dir, results);
    const page = await renderPage(report, `({
      rows: [...document.querySelectorAll('#metrics tbody tr')].map((r) => r.querySelector('th').textContent),
      headers: [...document.querySelectorAll('#metrics thead th')].map((h) => h.textContent),
      versus: [...document.querySelectorAll('#versus tbody tr')].map((r) => r.querySelector('th').textContent),
      command: document.querySelector('#settings td').textContent,
    })`);
    expect(page.errors).toEqual([]);
    expect(page.images).toHaveLength(3 + 2);
    for (const img of page.images) {
      expect(img.complete, img.alt).toBe(true);
      expect(img.naturalWidth, img.alt).toBeGreaterThan(0);
    }
    expect(page.images.map((i) => [i.naturalWidth, i.naturalHeight])).toEqual([[300, 200], [300, 200], [300, 200], [320, 160], [320, 160]]);
    const v = page.value as { rows: string[]; headers: string[]; versus: string[]; command: string };
    expect(v.versus).toEqual(['no control (base alone)', 'lighting only']);
    expect(v.rows).toEqual(['no control (base alone)', 'lighting only', 'blend (alpha)']);
    expect(v.headers).toEqual(['arm', 'seeds', 'PSNR (dB)', 'SSIM', 'teeth PSNR (dB)', 'teeth SSIM', 'teeth detail (GMS)', 'teeth sharpness']);
    expect(v.command).toBe('npm run dental -- ablate --steps 2 <script>'); // escaped, shown as text
  });

  it('the check fails on a page with a broken image and a console error (control)', async () => {
    const bad = join(dir, 'bad.html');
    await writeFile(bad, '<!doctype html><html><body><img alt="broken" src="data:image/png;base64,AAAA"><script>console.error("boom")</script></body></html>');
    const page = await renderPage(bad);
    expect(page.images).toEqual([{ alt: 'broken', complete: true, naturalWidth: 0, naturalHeight: 0 }]);
    expect(page.errors.some((e) => e.includes('boom'))).toBe(true);
  });
});
