/**
 * A vitest reporter that adds one line to the end of a run: the gpu.js modes that were
 * skipped because they cannot run on this machine, each with its reason (harness.ts leaves
 * them out of MODES and registers one skipped test per file carrying the reason). Silent when
 * every mode ran.
 */
import type { Reporter, TestModule } from 'vitest/node';

/** The name every skipped mode's placeholder test carries; its skip note is `<variant>: <reason>`. */
export const UNAVAILABLE_TEST = 'gpu.js mode unavailable here';

export default class GpuModeSummary implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const reasons = new Map<string, string>();
    for (const module of testModules) {
      for (const test of module.children.allTests('skipped')) {
        const result = test.result();
        if (test.name !== UNAVAILABLE_TEST || result.state !== 'skipped' || !result.note) continue;
        const [variant, ...why] = result.note.split(': ');
        if (!reasons.has(variant!)) reasons.set(variant!, why.join(': '));
      }
    }
    if (reasons.size === 0) return;
    const list = [...reasons].map(([variant, why]) => `${variant} (${why})`).join('; ');
    process.stdout.write(`\ngpu.js modes skipped, they cannot run on this machine: ${list}. Set GPUJS_MODES_REQUIRED=1 to make them fail instead (CI does).\n`);
  }
}
