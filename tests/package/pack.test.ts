/**
 * The package as a user gets it: `npm pack` (which builds dist/ through `prepare`), the tarball
 * installed into a scratch project outside the repository (offline from npm's cache), and, there,
 * a small training, a custom plugin in a recipe and the property-test kit, in plain ESM
 * JavaScript and in TypeScript typechecked with `tsc --init`'s defaults (no special tsconfig).
 *
 * The scratch install skips dependencies' install scripts: headless-gl would compile for minutes.
 * Where the native addon builds here, the package's own install script then runs alone
 * (`npm rebuild ctrlora-ts`, what `npm install` runs for it) and the installed package's
 * compiled code must load the addon it built; elsewhere that test is skipped with the reason
 * (CTRLORA_REQUIRE_NATIVE=1 makes it run), as the native suites are.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeLabel, nativeSkip } from '../native/suite.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const bin = (name: string) => join(root, 'node_modules', '.bin', name);
let work = '';
let project = '';
let files: string[] = [];

async function inProject(cmd: string, args: string[]): Promise<string> {
  const { stdout } = await run(cmd, args, { cwd: project, maxBuffer: 1 << 24 });
  return stdout;
}
const lastJson = (out: string) => JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, unknown>;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ctrlora-pack-'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, maxBuffer: 1 << 26 });
  const packed = (JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[])[0]!;
  files = packed.files.map((f) => f.path);
  project = join(work, 'project');
  await cp(join(root, 'tests', 'fixtures', 'package-consumer'), project, { recursive: true });
  await writeFile(join(project, 'package.json'), JSON.stringify({
    name: 'consumer', version: '1.0.0', type: 'module', private: true,
    dependencies: { 'ctrlora-ts': `file:${join(work, packed.filename)}` },
    // gpu.js 2.24.1 pins webgpu 0.2.9; the gpu.js backend's webgpu mode needs 0.6.2 (docs/package.md)
    overrides: { webgpu: '0.6.2' },
  }, null, 2));
  await inProject('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund']);
  await inProject(bin('tsc'), ['--init']);
});

afterAll(() => (work ? rm(work, { recursive: true, force: true }) : undefined));

describe('the packed package', () => {
  it('ships compiled JS with types for every export, the gpu.js worker files, and no tests or TypeScript sources', () => {
    for (const f of ['dist/core/index.js', 'dist/core/index.d.ts', 'dist/core/testing/index.js', 'dist/core/testing/index.d.ts',
      'dist/plugins/blenders/index.js', 'dist/plugins/unet/index.d.ts', 'dist/core/backends/gpujs/index.js',
      'dist/core/backends/gpujs/async-worker.mjs', 'dist/core/backends/gpujs/kernel-runtime.mjs', 'package.json', 'README.md']) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => f.startsWith('tests/') || f.startsWith('examples/'))).toEqual([]);
    expect(files.filter((f) => /(?<!\.d)\.ts$/.test(f) && !f.startsWith('core/backends/native/'))).toEqual([]);
    // the native addon builds on install from its folder (binding.gyp, C++ sources, build script), never from a local build
    if (existsSync(join(root, 'core', 'backends', 'native', 'binding.gyp'))) expect(files).toContain('core/backends/native/binding.gyp');
    expect(files.filter((f) => f.startsWith('core/backends/native/build/'))).toEqual([]);
  });

  it('trains a small model from plain ESM JavaScript', async () => {
    const r = lastJson(await inProject('node', ['train.mjs']));
    expect(r.backend).toBe('reference');
    expect(r.last as number).toBeLessThan((r.first as number) / 100);
  });

  it('builds a recipe with a bundled plugin folder (by package name) and a custom plugin (by path) from JavaScript', async () => {
    expect(lastJson(await inProject('node', ['compose.mjs']))).toEqual({ blender: 'lighten', blend: [0.5, Math.fround(0.8)], bundled: 8 });
  });

  it('typechecks the TypeScript files with tsc --init defaults, then runs them', async () => {
    const tsconfig = await readdir(project);
    expect(tsconfig).toContain('tsconfig.json');
    await inProject(bin('tsc'), ['--noEmit', '-p', '.']);
    const train = lastJson(await inProject(bin('tsx'), ['train.ts']));
    expect(train.last as number).toBeLessThan((train.first as number) / 100);
    expect(lastJson(await inProject(bin('tsx'), ['compose.ts']))).toEqual({ blender: 'lighten', blend: [0.5, Math.fround(0.8)], bundled: 8 });
    expect(lastJson(await inProject(bin('tsx'), ['kit.ts']))).toEqual({ kit: 'ok', backend: 'gpujs:cpu' });
  });

  it.skipIf(nativeSkip)(`builds the native addon with its install script and loads it from dist/ (${nativeLabel})`, async () => {
    await inProject('npm', ['rebuild', 'ctrlora-ts', '--foreground-scripts']);
    const r = lastJson(await inProject('node', ['native.mjs']));
    expect(r.backend).toBe('native');
    expect(r.maxDiff as number).toBeLessThan(1e-4);
  });
});
