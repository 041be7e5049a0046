/**
 * The `--backend <spec>` and `--threads <n>` options every command line shares (commander),
 * so each CLI accepts the same specs as createBackend and explains them the same way:
 *
 *   const cmd = addBackendOptions(new Command('train'));
 *   cmd.action(async (opts) => { const backend = await createBackend(opts.backend, { threads: opts.threads }); ... });
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { BACKEND_SPECS, type BackendSpec } from './create.ts';

export const BACKEND_OPTION_HELP =
  'where tensors live: auto (native when built, else gpujs:webasm), reference, native, or gpujs:<mode> ' +
  '(webgpu, headlessgl, webasm, webasm+threads, cpu); the run prints which one runs and why';

export function backendOption(defaultSpec: BackendSpec = 'auto'): Option {
  return new Option('--backend <spec>', BACKEND_OPTION_HELP).choices(BACKEND_SPECS).default(defaultSpec);
}

export function threadsOption(): Option {
  return new Option('--threads <n>', 'native backend: threads of its pool (default: one per core)').argParser((value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < 1 || n > 1024) throw new InvalidArgumentError(`expected an integer in [1, 1024], got "${value}"`);
    return n;
  });
}

/** Adds --backend and --threads to a command; its options then carry `backend` and `threads`. */
export function addBackendOptions(command: Command, defaultSpec: BackendSpec = 'auto'): Command {
  return command.addOption(backendOption(defaultSpec)).addOption(threadsOption());
}
