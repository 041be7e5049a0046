/**
 * The ablation's report: `<out>/report.html`, one self-contained file (every image inlined as a
 * data: URI, no script, no outside link) with the metrics table, each row's grid
 * (input | output | target on the same validation samples), the trained arms' loss curves and
 * the settings that made it; and the same table as Markdown (`ablate --table`, for the docs).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../../core/io/atomic.ts';
import type { MetricName, SeedSummary } from './ablation-metrics.ts';
import type { AblationResults, AblationRow } from './ablate.ts';

/** Column headings and decimals of each measure. */
export const METRIC_LABELS: Record<MetricName, { label: string; digits: number; hint: string; higherIsBetter: boolean }> = {
  psnr: { label: 'PSNR (dB)', digits: 2, hint: 'whole image', higherIsBetter: true },
  ssim: { label: 'SSIM', digits: 3, hint: 'whole image', higherIsBetter: true },
  psnr_teeth: { label: 'teeth PSNR (dB)', digits: 2, hint: 'tooth pixels of the segmentation map', higherIsBetter: true },
  ssim_teeth: { label: 'teeth SSIM', digits: 3, hint: 'SSIM windows centred on a tooth pixel', higherIsBetter: true },
  detail_teeth: { label: 'teeth detail (GMS)', digits: 3, hint: 'gradient-magnitude similarity inside the teeth (1: every edge at its strength)', higherIsBetter: true },
  // closer to 1 is better: a difference says more or less texture, not better or worse
  sharpness_teeth: { label: 'teeth sharpness', digits: 2, hint: 'output / target gradient energy inside the teeth (1: as sharp as the target)', higherIsBetter: false },
};

const num = (x: number | null | undefined, digits: number) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '–');

/** "mean ± ci" over samples, and the between-seed spread when there are several seeds. */
export function formatCell(s: SeedSummary, digits: number): { main: string; spread: string } {
  const main = `${num(s.mean, digits)}${typeof s.ci95 === 'number' && Number.isFinite(s.ci95) ? ` ± ${num(s.ci95, digits)}` : ''}`;
  const spread = s.seeds >= 2 ? `seeds: sd ${num(s.seedStd, digits)}, ${num(s.seedMin, digits)}…${num(s.seedMax, digits)}` : '';
  return { main, spread };
}

const signed = (x: number, digits: number) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(digits)}` : '–');

/** A paired difference: "+d ± ci", and whether its interval lies above or below zero. */
export function formatDifference(s: SeedSummary, digits: number): { text: string; sign: 'above' | 'below' | 'zero' } {
  const ci = typeof s.ci95 === 'number' && Number.isFinite(s.ci95) ? s.ci95 : NaN;
  const text = `${signed(s.mean, digits)}${Number.isFinite(ci) ? ` ± ${ci.toFixed(digits)}` : ''}`;
  const sign = Number.isFinite(ci) && s.mean - ci > 0 ? 'above' : Number.isFinite(ci) && s.mean + ci < 0 ? 'below' : 'zero';
  return { text, sign };
}

function referenceLabel(r: AblationResults): string | null {
  return r.reference ? r.rows.find((x) => x.id === r.reference)?.label ?? r.reference : null;
}

/** The table as Markdown: one row per arm, each measure "mean ± 95% CI" (over samples; over seeds: mean of seed means, sd in brackets). */
export function ablationTable(r: AblationResults): string {
  const head = ['arm', 'seeds', ...r.metrics.map((m) => METRIC_LABELS[m].label)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`];
  for (const row of r.rows) {
    const cells = r.metrics.map((m) => {
      const c = formatCell(row.summary[m], METRIC_LABELS[m].digits);
      return row.summary[m].seeds >= 2 ? `${c.main} (sd ${num(row.summary[m].seedStd, METRIC_LABELS[m].digits)})` : c.main;
    });
    lines.push(`| ${row.headline ? `**${row.label}**` : row.label} | ${row.seeds.join(', ')} | ${cells.join(' | ')} |`);
  }
  const ref = referenceLabel(r);
  if (ref) {
    lines.push('', `Against ${ref}, paired by sample (the same validation samples and sampling seed; mean difference ± 95% CI; * where the interval excludes 0):`, '');
    lines.push(`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`);
    for (const row of r.rows) {
      if (!row.vsReference) continue;
      const cells = r.metrics.map((m) => {
        const d = formatDifference(row.vsReference![m], METRIC_LABELS[m].digits);
        return `${d.text}${d.sign === 'zero' ? '' : ' *'}`;
      });
      lines.push(`| ${row.headline ? `**${row.label}**` : row.label} | ${row.seeds.join(', ')} | ${cells.join(' | ')} |`);
    }
  }
  const s = r.settings;
  lines.push('', `${s.steps} training steps a run, seeds ${s.seeds.join(', ')}; ${s.count} validation samples, ${s.sampler.scheduler} ${s.sampler.steps} steps, guidance ${s.sampler.guidanceScale}, sampling seed ${s.sampler.seed}. ± is the 95% confidence interval over samples (averaged over seeds); sd the spread of the seed means.`);
  return lines.join('\n');
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function dataUri(path: string): string | null {
  if (!existsSync(path)) return null;
  return `data:image/png;base64,${readFileSync(path).toString('base64')}`;
}

function imageOrNote(outDir: string, rel: string, alt: string): string {
  const uri = dataUri(join(outDir, rel));
  return uri ? `<img src="${uri}" alt="${escapeHtml(alt)}">` : `<p class="missing">${escapeHtml(rel)}: not written</p>`;
}

function tableHtml(r: AblationResults): string {
  const head = r.metrics.map((m) => `<th title="${escapeHtml(METRIC_LABELS[m].hint)}">${escapeHtml(METRIC_LABELS[m].label)}</th>`).join('');
  const body = r.rows.map((row: AblationRow) => {
    const cells = r.metrics.map((m) => {
      const c = formatCell(row.summary[m], METRIC_LABELS[m].digits);
      return `<td>${escapeHtml(c.main)}${c.spread ? `<br><small>${escapeHtml(c.spread)}</small>` : ''}</td>`;
    }).join('');
    return `<tr${row.headline ? ' class="headline"' : ''}><th scope="row"><a href="#arm-${escapeHtml(row.id)}">${escapeHtml(row.label)}</a></th><td>${escapeHtml(row.seeds.join(', '))}</td>${cells}</tr>`;
  }).join('\n');
  return `<table id="metrics"><thead><tr><th>arm</th><th>seeds</th>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table>`;
}

function differenceTableHtml(r: AblationResults): string {
  const ref = referenceLabel(r);
  if (!ref) return '<p>No reference arm in this run (blend-mask-composite), so no paired comparison.</p>';
  const head = r.metrics.map((m) => `<th>${escapeHtml(METRIC_LABELS[m].label)}</th>`).join('');
  const body = r.rows.filter((row) => row.vsReference).map((row) => {
    const cells = r.metrics.map((m) => {
      const d = formatDifference(row.vsReference![m], METRIC_LABELS[m].digits);
      const cls = d.sign === 'zero' || !METRIC_LABELS[m].higherIsBetter ? '' : d.sign === 'above' ? ' class="better"' : ' class="worse"';
      return `<td${cls}>${escapeHtml(d.text)}</td>`;
    }).join('');
    return `<tr${row.headline ? ' class="headline"' : ''}><th scope="row">${escapeHtml(row.label)}</th><td>${escapeHtml(row.seeds.join(', '))}</td>${cells}</tr>`;
  }).join('\n');
  return `<p>Each arm minus <b>${escapeHtml(ref)}</b>, sample by sample (the same validation samples and sampling seed, so the spread between samples cancels): mean difference ± 95% confidence interval, seed by seed and averaged over seeds. Green: the interval lies above zero; red: below (sharpness is not judged: 1 is the target's).</p>
<table id="versus"><thead><tr><th>arm</th><th>seeds</th>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table>`;
}

function settingsHtml(r: AblationResults): string {
  const s = r.settings;
  const rows: Array<[string, string]> = [
    ['command', s.command],
    ['base', s.base],
    ['base manifest', s.baseManifest ? `${s.baseManifest.command} (seed ${s.baseManifest.seed}, ${num(s.baseManifest.wallSeconds / 60, 1)} min; ${Object.entries(s.baseManifest.stages).map(([k, v]) => `${k} ${v.steps} steps, final loss ${num(v.finalLoss, 4)}`).join('; ')})` : 'none (no manifest.json in the base folder)'],
    ['data', s.data],
    ['training', `${s.steps} steps a run, seeds ${s.seeds.join(', ')} (headline arms on every seed, the others on the first), batch ${s.training.batchSize}, lr ${s.training.lr} (${s.training.lrScheduler}), prompt dropout ${s.training.promptDropout}, min-SNR ${s.training.minSnrGamma ?? 'none'}, noise offset ${s.training.noiseOffset}`],
    ['sampler', `${s.sampler.scheduler}, ${s.sampler.steps} steps, guidance ${s.sampler.guidanceScale}, seed ${s.sampler.seed}`],
    ['evaluation', `the first ${s.count} validation samples: ${s.samples.join(', ')}`],
    ['dual weights', s.dualWeights.map(([a, b]) => `${a}:${b}`).join(', ')],
    ['improved variant', `blend through ${s.improvedBlender ?? 'mask-composite'}, tooth-loss weight ${s.toothLossWeight}`],
  ];
  return `<table id="settings">${rows.map(([k, v]) => `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('\n')}</table>`;
}

export function ablationReportHtml(outDir: string, r: AblationResults): string {
  const arms = r.rows.map((row) => `<section id="arm-${escapeHtml(row.id)}">
<h3>${escapeHtml(row.label)}</h3>
<figure>${imageOrNote(outDir, row.grid, `${row.label}: grid`)}<figcaption>seed ${row.seeds[0]}: ${row.conditions.length ? 'input' : 'segmentation (for reference)'} | output | target</figcaption></figure>
</section>`).join('\n');
  const curves = [...new Map(r.rows.flatMap((row) => row.lossCurves).map((c) => [c.path, c])).values()];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>dental ablation</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; vertical-align: top; }
th[scope=row], #settings td { text-align: left; }
tr.headline th[scope=row] { font-weight: bold; }
small { color: #666; }
thead th:first-child { text-align: left; }
td.better { background: #dff3df; }
td.worse { background: #f6dede; }
section { display: inline-block; vertical-align: top; margin-right: 1em; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; }
img { image-rendering: pixelated; max-width: 100%; }
.missing { color: #a00; }
</style>
</head>
<body>
<h1>The seed's ablation, measured</h1>
<p>Every arm trained from the same base, with the same step budget and training seeds, and sampled on the same validation samples with the same sampling seed.
Each cell: the mean over samples ± the 95% confidence interval (over several seeds: the mean of the seed means, and the seeds' spread below it).
Bold rows are trained on every seed.</p>
<h2>Metrics</h2>
${tableHtml(r)}
<h2>Against the seed's blend</h2>
${differenceTableHtml(r)}
<h2>Arms</h2>
${arms}
<h2>Loss curves</h2>
<p>Raw and smoothed training loss (log scale) of each trained arm's first seed.</p>
${curves.map((c) => `<figure>${imageOrNote(outDir, c.path, `loss curve, ${c.label}`)}<figcaption>${escapeHtml(c.label)}</figcaption></figure>`).join('\n')}
<h2>Settings</h2>
${settingsHtml(r)}
</body>
</html>
`;
}

/** Writes `<outDir>/report.html` (atomically) and returns its path. */
export async function writeAblationReport(outDir: string, r: AblationResults): Promise<string> {
  const path = join(outDir, 'report.html');
  await writeFileAtomic(path, new TextEncoder().encode(ablationReportHtml(outDir, r)));
  return path;
}
