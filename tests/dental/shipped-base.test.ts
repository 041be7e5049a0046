/**
 * The shipped base (examples/dental/base, made by `npm run dental -- pretrain`): every file is
 * the one its manifest names (size and sha256), nothing else is there, the weights are f16, the
 * whole is at most 25 MB, and it loads. Skipped, with a note, while no base is shipped.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSafetensorsHeader } from '../../core/io/safetensors.ts';
import { loadBase } from '../../examples/dental/recipe/models.ts';
import { verifyManifest } from '../../examples/dental/recipe/pretrain.ts';
import { SHIPPED_BASE } from '../../examples/dental/recipe/commands.ts';

const shipped = existsSync(join(SHIPPED_BASE, 'manifest.json'));
if (!shipped) console.warn(`tests/dental/shipped-base: skipped: no base shipped yet in ${SHIPPED_BASE} (\`npm run dental -- pretrain\`, then copy runs/dental-pretrain/base there)`);

describe.skipIf(!shipped)('the shipped dental base', () => {
  it('matches its manifest, is f16 and at most 25 MB, and loads', async () => {
    expect(await verifyManifest(SHIPPED_BASE)).toEqual([]);
    const manifest = JSON.parse(await readFile(join(SHIPPED_BASE, 'manifest.json'), 'utf8'));
    expect(manifest.totalBytes).toBeLessThanOrEqual(25 * 1024 * 1024);
    for (const key of ['command', 'seed', 'stages', 'wallSeconds', 'files']) expect(manifest).toHaveProperty(key);
    for (const f of Object.keys(manifest.files).filter((f: string) => f.endsWith('.safetensors'))) {
      const header = parseSafetensorsHeader(new Uint8Array(await readFile(join(SHIPPED_BASE, f))), f);
      expect(new Set([...header.tensors.values()].map((e) => e.dtype)), f).toEqual(new Set(['F16']));
    }
    const base = await loadBase(SHIPPED_BASE);
    expect(base.conditions).toEqual(['depth', 'normal', 'edges', 'segmentation']);
  });
});
