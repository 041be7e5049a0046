/** createBackend(spec): which backend each spec gives, the announcement, the recipe plugin and the CLI option. */
import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { GpuJsBackend } from '../../core/backends/gpujs/index.ts';
import {
  BACKEND_SPECS, ReferenceBackend, TOKENS, addBackendOptions, announceBackend, buildRecipe, chooseBackend, createBackend, nativeAvailability, tensor,
} from '../../core/index.ts';

const quiet = { log: null };

describe('createBackend', () => {
  it('refuses an unknown spec, listing the valid ones', async () => {
    await expect(createBackend('gpujs:webgl', quiet)).rejects.toThrow(/unknown backend 'gpujs:webgl'; valid: auto, reference, native, gpujs:webgpu, .*gpujs:cpu/);
    await expect(createBackend('', quiet)).rejects.toThrow(/valid:/);
    await expect(createBackend('reference', { threads: 0, log: null })).rejects.toThrow(/threads must be an integer >= 1/);
  });

  it('reference and gpujs:<mode> give exactly the backend named, and it computes', async () => {
    const ref = await chooseBackend('reference');
    expect(ref.backend).toBeInstanceOf(ReferenceBackend);
    expect(ref.reason).toBe('asked for');
    const cpu = await chooseBackend('gpujs:cpu');
    expect(cpu.backend).toBeInstanceOf(GpuJsBackend);
    expect(cpu.backend.name).toBe('gpujs:cpu');
    expect((cpu.backend as GpuJsBackend).mode).toBe('cpu');
    expect(tensor([1, 2, 3], undefined, { backend: cpu.backend }).mul(2).tolist()).toEqual([2, 4, 6]);
    (cpu.backend as GpuJsBackend).destroy();
  });

  it('auto takes native when it is built, else gpujs:webasm and says why', async () => {
    const native = await nativeAvailability();
    const auto = await chooseBackend('auto');
    if (native.available) {
      expect(auto.spec).toBe('native');
      expect(auto.backend.name).toBe('native');
      expect(auto.reason).toContain(native.isa);
    } else {
      expect(auto.spec).toBe('gpujs:webasm');
      expect((auto.backend as GpuJsBackend).mode).toBe('webasm');
      expect(auto.reason).toBe(`native not built: ${native.reason}`);
      (auto.backend as GpuJsBackend).destroy();
    }
  });

  it("'native' is that backend or an error saying why it is not built", async () => {
    const native = await nativeAvailability();
    if (native.available) {
      expect((await createBackend('native', { threads: 1, log: null })).name).toBe('native');
    } else {
      await expect(createBackend('native', quiet)).rejects.toThrow(`backend 'native' is not available here: ${native.reason}`);
    }
  });

  it('prints which backend runs once per process, not once per call', async () => {
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    await createBackend('reference', { log });
    await createBackend('reference', { log });
    expect(lines).toEqual(['backend: reference (asked for)']);
    expect(announceBackend({ backend: new ReferenceBackend(), spec: 'reference', reason: 'asked for' }, null)).toBe('backend: reference (asked for)');
  });
});

describe('the backend recipe plugin and CLI option', () => {
  it("a recipe's { use: 'backend', options: { spec } } registers that backend under TOKENS.Backend", async () => {
    const recipe = await buildRecipe({ plugins: [{ use: 'backend', options: { spec: 'reference' } }] });
    expect(recipe.names(TOKENS.Backend)).toEqual(['reference']);
    expect(recipe.resolve(TOKENS.Backend)).toBeInstanceOf(ReferenceBackend);
    await expect(buildRecipe({ plugins: [{ use: 'backend', options: { spec: 'cuda' } }] })).rejects.toThrow(/backend: unknown spec 'cuda'; valid: auto, reference/);
    await expect(buildRecipe({ plugins: [{ use: 'backend', options: { mode: 'cpu' } }] })).rejects.toThrow(/backend: unknown option "mode"/);
  });

  it('--backend takes the specs createBackend takes (default auto) and --threads a positive integer', () => {
    const parse = (...argv: string[]) => {
      const cmd = addBackendOptions(new Command('x')).exitOverride().configureOutput({ writeErr: () => {} });
      cmd.parse(argv, { from: 'user' });
      return cmd.opts();
    };
    expect(parse()).toEqual({ backend: 'auto' });
    expect(parse('--backend', 'gpujs:webasm+threads', '--threads', '2')).toEqual({ backend: 'gpujs:webasm+threads', threads: 2 });
    for (const spec of BACKEND_SPECS) expect(parse('--backend', spec).backend).toBe(spec);
    expect(() => parse('--backend', 'gpu')).toThrow(/Allowed choices are auto, reference, native/);
    expect(() => parse('--threads', '0')).toThrow(/expected an integer in \[1, 1024\]/);
  });
});

describe('examples/choose-backend.ts', () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '..', '..', 'examples', 'choose-backend.ts'), ...args], { encoding: 'utf8' });

  it('runs on the backend named and says so on stderr; a bad spec fails listing the valid ones', () => {
    const ok = run('--backend', 'reference');
    expect(ok.status).toBe(0);
    expect(ok.stderr).toBe('backend: reference (asked for)\n');
    expect(ok.stdout).toBe('reference: checksum -65.692\n');
    const bad = run('--backend', 'cuda');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain("argument 'cuda' is invalid. Allowed choices are auto, reference, native, gpujs:webgpu");
  });
});
