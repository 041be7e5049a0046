#!/usr/bin/env node
/**
 * Builds the native backend's addon with node-gyp (npm's `install` script runs this).
 *
 *   node core/backends/native/build.mjs             build; exit 1 with the compiler's output on failure
 *   node core/backends/native/build.mjs --optional  build; on failure print one line, leave the reason
 *                                                   in build-failure.txt (nativeStatus() reports it)
 *                                                   and exit 0, so `npm install` still succeeds
 *
 * node-gyp comes from npm (npm_config_node_gyp) or node_modules. The Node headers are taken
 * from the running Node's own include/node when it ships them (no download), else node-gyp
 * fetches them. JOBS=n sets make's parallelism (default: the cores).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const optional = process.argv.includes('--optional');
const failureFile = join(here, 'build-failure.txt');

function nodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  try {
    return createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return null;
  }
}

function fail(reason, output) {
  if (!optional) {
    if (output) process.stderr.write(output);
    console.error(`ctrlora-ts: native backend build failed: ${reason}`);
    process.exit(1);
  }
  writeFileSync(`${failureFile}.tmp`, `${reason}\n`);
  renameSync(`${failureFile}.tmp`, failureFile); // atomic: nativeStatus() never reads half a line
  console.warn(`ctrlora-ts: the native CPU backend was not built (${reason}); the gpu.js and reference backends still work. Retry with \`npm run build:native\`.`);
  process.exit(0);
}

const gyp = nodeGyp();
if (!gyp) fail('node-gyp was not found');
const args = [gyp, 'rebuild', `--jobs=${process.env.JOBS || availableParallelism()}`];
const prefix = dirname(dirname(process.execPath));
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);

rmSync(failureFile, { force: true });
const run = spawnSync(process.execPath, args, { cwd: here, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'error' } });
const output = `${run.stdout ?? ''}${run.stderr ?? ''}`;
if (run.error) fail(`could not run node-gyp: ${run.error.message}`, output);
if (run.status !== 0) {
  const firstError = output.split('\n').find((l) => /error|not found|ERR!/i.test(l))?.trim() ?? `node-gyp exited with ${run.status}`;
  fail(firstError.slice(0, 300), output);
}
if (!existsSync(join(here, 'build', 'Release', 'ctrlora_native.node'))) fail('node-gyp succeeded but produced no ctrlora_native.node', output);
console.log('ctrlora-ts: native CPU backend built (core/backends/native/build/Release/ctrlora_native.node)');
