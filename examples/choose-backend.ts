/**
 * The shared --backend / --threads options and createBackend in a complete command line:
 *
 *   npx tsx examples/choose-backend.ts                      # auto: native when built, else gpujs:webasm
 *   npx tsx examples/choose-backend.ts --backend reference
 *   npx tsx examples/choose-backend.ts --backend native --threads 2
 *
 * stderr gets one line saying which backend runs and why; stdout the result of a small matmul.
 */
import { Command } from 'commander';
import { addBackendOptions, createBackend, randn, withBackend } from '../core/index.ts';

const program = addBackendOptions(new Command('choose-backend'))
  .description('Multiplies two seeded 64x64 matrices on the chosen backend and prints a checksum.')
  .action(async (opts: { backend: string; threads?: number }) => {
    const backend = await createBackend(opts.backend, { threads: opts.threads });
    const sum = withBackend(backend, () => randn([64, 64], { seed: 1 }).matmul(randn([64, 64], { seed: 2 })).sum().item());
    console.log(`${backend.name}: checksum ${sum.toFixed(3)}`);
    (backend as { destroy?: () => void }).destroy?.();
  });

await program.parseAsync(process.argv);
