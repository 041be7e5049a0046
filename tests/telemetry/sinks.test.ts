import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { JsonlSink, LossCurveSink, ProgressSink, TelemetryBus, buildRecipe, lossCurveSvg, startTelemetry } from '../../core/index.ts';

const dir = await mkdtemp(join(tmpdir(), 'sinks-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

function drive(bus: TelemetryBus): void {
  bus.runStart({}, { total: 3, trainable: 3 }, 3);
  bus.step({ step: 1, loss: 1, lr: 0.1, batchSize: 2, stepMs: 100 });
  bus.step({ step: 2, loss: NaN, lr: 0.1, batchSize: 2, stepMs: 100 });
  bus.step({ step: 3, loss: 0.5, lr: 0.1, batchSize: 2, stepMs: 100 });
  bus.end();
}

describe('sinks', () => {
  it('progress bar draws steps, smoothed loss and ETA, and prints warnings on their own line', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => { text += d.toString(); });
    const sink = new ProgressSink({ stream: out, forceOutput: true, beta: 0.5 });
    const bus = new TelemetryBus();
    sink.attach(bus.events$);
    drive(bus);
    await sink.close();
    expect(text).toContain('warning: loss is NaN at step 2');
    expect(text).toMatch(/step 3\/3 \| loss 0\.6\d* \|/);
    expect(sink.lastPayload).toMatchObject({ step: 3, total: 3, eta: '0s' });
  });

  it('JSONL keeps NaN visible; the loss curve skips it', async () => {
    const path = join(dir, 'a', 'log.jsonl');
    const jsonl = new JsonlSink({ path });
    const curve = new LossCurveSink({ path: join(dir, 'a', 'loss.png'), svgPath: join(dir, 'svg', 'loss.svg') });
    const bus = new TelemetryBus({ runId: 'x' });
    jsonl.attach(bus.events$);
    curve.attach(bus.events$);
    drive(bus);
    await Promise.all([jsonl.close(), curve.close()]);
    const lines = (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l['type'])).toEqual(['run_start', 'step', 'step', 'warning', 'step', 'run_end']);
    expect(lines[2]).toMatchObject({ step: 2, loss: 'NaN' });
    const png = await readFile(join(dir, 'a', 'loss.png'));
    expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect((await readdir(join(dir, 'a'))).sort()).toEqual(['log.jsonl', 'loss.png']); // no temporary files left
    const svg = await readFile(join(dir, 'svg', 'loss.svg'), 'utf8');
    expect(svg).not.toContain('NaN');
    expect(svg).toContain('training loss (x)');
    expect(lossCurveSvg([])).toContain('<svg');
  });

  it('a JSONL log that cannot be written fails close() naming the file (instead of an unhandled stream error)', async () => {
    const sink = new JsonlSink({ path: dir }); // a folder: opening it for append fails
    const bus = new TelemetryBus();
    sink.attach(bus.events$);
    drive(bus);
    await expect(sink.close()).rejects.toThrow(`telemetry/jsonl: cannot write the log ${dir}: EISDIR`);
  });

  it('sinks need their options, and the error names the option', async () => {
    await expect(buildRecipe({ plugins: [{ use: 'telemetry/jsonl' }] })).rejects.toThrow(/telemetry\/jsonl: option "path"/);
    const c = await buildRecipe({ plugins: [{ use: 'telemetry/jsonl', options: { path: join(dir, 'b.jsonl') } }] });
    const t = startTelemetry(c);
    t.bus.runStart({}, { total: 0, trainable: 0 });
    await t.close('failed', new Error('boom'));
    const last = JSON.parse((await readFile(join(dir, 'b.jsonl'), 'utf8')).trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(last).toMatchObject({ type: 'run_end', status: 'failed', error: 'boom' });
  });
});
