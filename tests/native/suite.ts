/**
 * The native backend under test. Where the addon is not built its suites are skipped with
 * the reason in their name; CTRLORA_REQUIRE_NATIVE=1 (CI sets it) makes that a failure.
 */
import { NativeBackend, nativeStatus } from '../../core/backends/native/index.ts';

const status = nativeStatus();

/** True when the native suites must be skipped (the addon is missing and not required). */
export const nativeSkip = !status.available && process.env.CTRLORA_REQUIRE_NATIVE !== '1';

/** The suite label: the ISA that runs, or why nothing does. */
export const nativeLabel = status.available ? `native (${status.isa})` : `native [skipped: ${status.reason}]`;

const backends = new Map<number | undefined, NativeBackend>();

/** One backend per thread count, shared by a file's tests (undefined: the default count). */
export function nativeBackend(threads?: number): NativeBackend {
  let b = backends.get(threads);
  if (!b) {
    b = new NativeBackend(threads === undefined ? {} : { threads });
    backends.set(threads, b);
  }
  return b;
}
