/**
 * createBackend(spec): one way for programs, JSON recipes and CLIs (`--backend`) to say where
 * tensors live, and one line on stderr saying which backend really runs and why.
 *
 *   auto                 native when its addon is built here, else gpu.js webasm, else gpu.js cpu
 *   reference            the plain-TypeScript reference backend (float64 accumulation, slow)
 *   native               the C++ addon (core/backends/native); an error saying why when it is not built
 *   gpujs:<mode>         gpu.js in one mode: webgpu, headlessgl, webasm, webasm+threads, cpu
 *
 * `auto` never picks a GPU mode: on a machine without a GPU those run on software drivers
 * (llvmpipe, SwiftShader) and are slower than webasm; name one to use a real GPU.
 * An explicitly named backend that cannot run here is an error, never a silent fallback.
 */
import type { Backend } from '../backend.ts';
import { ArgumentError } from '../errors.ts';
import { ReferenceBackend } from './reference.ts';

export const BACKEND_SPECS = [
  'auto', 'reference', 'native', 'gpujs:webgpu', 'gpujs:headlessgl', 'gpujs:webasm', 'gpujs:webasm+threads', 'gpujs:cpu',
] as const;
export type BackendSpec = (typeof BACKEND_SPECS)[number];

export interface CreateBackendOptions {
  /** native only: worker threads of its pool (default: the addon's, sized to the cores). */
  threads?: number;
  /** Where the one "backend: ..." line goes (default: stderr). `null` keeps quiet. */
  log?: ((line: string) => void) | null;
}

/** What createBackend picked: the backend, its concrete spec and why it was picked. */
export interface BackendChoice {
  backend: Backend;
  spec: Exclude<BackendSpec, 'auto'>;
  /** Why this one (for auto: why the better ones were passed over). */
  reason: string;
}

/** The native module's contract (core/backends/native/index.ts, built by its own addon). */
interface NativeModule {
  NativeBackend: new (options?: { threads?: number }) => Backend;
  nativeStatus(): { available: true; isa: string } | { available: false; reason: string };
}

// A variable specifier: the native backend may be absent from a checkout or a package, and
// a missing module must read as "not built", not fail type-checking or module loading.
const NATIVE_MODULE = './native/index.ts';

/** The native module's status without building a backend: why it cannot be used, or its ISA. */
export async function nativeAvailability(): Promise<{ available: true; isa: string; module: NativeModule } | { available: false; reason: string }> {
  let mod: NativeModule;
  try {
    mod = (await import(NATIVE_MODULE)) as NativeModule;
  } catch (e) {
    const missing = (e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && String((e as Error).message).includes('native/index');
    return { available: false, reason: missing ? 'core/backends/native is not part of this installation' : `core/backends/native could not be loaded (${firstLine(e)})` };
  }
  let status: ReturnType<NativeModule['nativeStatus']>;
  try {
    status = mod.nativeStatus();
  } catch (e) {
    return { available: false, reason: `nativeStatus() failed (${firstLine(e)})` };
  }
  return status.available ? { available: true, isa: status.isa, module: mod } : { available: false, reason: status.reason };
}

export function isBackendSpec(spec: string): spec is BackendSpec {
  return (BACKEND_SPECS as readonly string[]).includes(spec);
}

/** Checks a spec string, with an error that lists the valid ones. */
export function parseBackendSpec(spec: unknown, where = 'backend'): BackendSpec {
  if (typeof spec === 'string' && isBackendSpec(spec)) return spec;
  throw new ArgumentError(`${where}: unknown backend '${String(spec)}'; valid: ${BACKEND_SPECS.join(', ')}`);
}

/** Picks and builds the backend a spec names; see the module comment for the rules. */
export async function chooseBackend(spec: string = 'auto', options: CreateBackendOptions = {}): Promise<BackendChoice> {
  const s = parseBackendSpec(spec);
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1)) {
    throw new ArgumentError(`backend: threads must be an integer >= 1, got ${options.threads}`);
  }
  if (s === 'reference') return { backend: new ReferenceBackend(), spec: s, reason: 'asked for' };
  if (s === 'native' || s === 'auto') {
    const native = await nativeAvailability();
    if (native.available) {
      const backend = new native.module.NativeBackend(options.threads === undefined ? {} : { threads: options.threads });
      const threads = (backend as { threads?: number }).threads;
      return { backend, spec: 'native', reason: `${s === 'auto' ? 'auto: ' : ''}${native.isa}${threads ? `, ${threads} thread${threads > 1 ? 's' : ''}` : ''}` };
    }
    if (s === 'native') throw new ArgumentError(`backend 'native' is not available here: ${native.reason}. Build it (npm install with a C/C++ toolchain) or pick another: ${BACKEND_SPECS.join(', ')}`);
    return autoGpuJs(`native not built: ${native.reason}`);
  }
  return { backend: await gpuJs(s), spec: s, reason: 'asked for' };
}

/**
 * Builds the backend a spec names and prints once per process which backend runs and why,
 * e.g. `backend: gpujs:webasm (native not built: ...)`.
 */
export async function createBackend(spec: string = 'auto', options: CreateBackendOptions = {}): Promise<Backend> {
  const choice = await chooseBackend(spec, options);
  announceBackend(choice, options.log);
  return choice.backend;
}

const announced = new Set<string>();

/** Prints `backend: <name> (<reason>)` once per distinct line in this process. */
export function announceBackend(choice: BackendChoice, log: CreateBackendOptions['log'] = (line) => process.stderr.write(`${line}\n`)): string {
  const line = `backend: ${choice.backend.name} (${choice.reason})`;
  if (log && !announced.has(line)) {
    announced.add(line);
    log(line);
  }
  return line;
}

async function gpuJs(spec: `gpujs:${string}`): Promise<Backend> {
  const { GpuJsBackend } = await import('./gpujs/index.ts');
  const mode = spec.slice('gpujs:'.length);
  const threads = mode === 'webasm+threads';
  return new GpuJsBackend({ mode: (threads ? 'webasm' : mode) as 'webasm', strict: true, threads });
}

/** auto without native: webasm when gpu.js can run it here (it checks WebAssembly), else cpu. */
async function autoGpuJs(why: string): Promise<BackendChoice> {
  try {
    return { backend: await gpuJs('gpujs:webasm'), spec: 'gpujs:webasm', reason: why };
  } catch (e) {
    return { backend: await gpuJs('gpujs:cpu'), spec: 'gpujs:cpu', reason: `${why}; gpujs:webasm cannot run: ${firstLine(e)}` };
  }
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0]!;
}
