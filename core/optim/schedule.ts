/**
 * Learning-rate schedules as multipliers of each group's base lr (torch's LambdaLR), with
 * the shapes diffusers' training scripts use: constant, constant with warmup, linear and
 * cosine (both with warmup, decaying to 0 at totalSteps).
 */
import { ArgumentError } from '../errors.ts';
import type { Hyper, LrScheduleState, Optimizer } from './optimizer.ts';

export type LrLambda = (step: number) => number;
export type ScheduleName = 'constant' | 'constant_with_warmup' | 'linear' | 'cosine';

export interface ScheduleOptions {
  warmupSteps?: number;
  /** Needed by linear and cosine. */
  totalSteps?: number;
  /** Cosine only: half-waves over the decay (0.5 = one decay from 1 to 0). */
  numCycles?: number;
}

const warm = (step: number, warmup: number): number | null => (step < warmup ? step / Math.max(1, warmup) : null);

export function lrLambda(name: ScheduleName, options: ScheduleOptions = {}): LrLambda {
  const warmup = options.warmupSteps ?? 0;
  if (!Number.isInteger(warmup) || warmup < 0) throw new ArgumentError(`lrLambda(${name}): warmupSteps must be an integer >= 0, got ${warmup}`);
  const total = options.totalSteps;
  const needTotal = (): number => {
    if (total === undefined || !Number.isInteger(total) || total < warmup) {
      throw new ArgumentError(`lrLambda(${name}): totalSteps must be an integer >= warmupSteps (${warmup}), got ${total}`);
    }
    return total;
  };
  switch (name) {
    case 'constant':
      return () => 1;
    case 'constant_with_warmup':
      return (s) => warm(s, warmup) ?? 1;
    case 'linear': {
      const T = needTotal();
      return (s) => warm(s, warmup) ?? Math.max(0, (T - s) / Math.max(1, T - warmup));
    }
    case 'cosine': {
      const T = needTotal();
      const cycles = options.numCycles ?? 0.5;
      return (s) => {
        const w = warm(s, warmup);
        if (w !== null) return w;
        const progress = (s - warmup) / Math.max(1, T - warmup);
        return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * progress)));
      };
    }
    default:
      throw new ArgumentError(`lrLambda: unknown schedule '${String(name)}' (known: constant, constant_with_warmup, linear, cosine)`);
  }
}

/** Sets lr = baseLr * lambda(step) on every group; call step() after each optimiser step. */
export class LRScheduler {
  readonly baseLrs: number[];
  private lastStep = 0;
  readonly lambda: LrLambda;

  constructor(readonly optimizer: Optimizer<Hyper>, lambda: LrLambda | ScheduleName, options: ScheduleOptions = {}) {
    this.lambda = typeof lambda === 'function' ? lambda : lrLambda(lambda, options);
    this.baseLrs = optimizer.paramGroups.map((g) => g['lr'] as number);
    this.apply();
    optimizer.lrScheduler = this;
  }
  private apply(): void {
    const f = this.lambda(this.lastStep);
    if (!Number.isFinite(f)) throw new ArgumentError(`LRScheduler: the schedule gave a non-finite lr multiplier (${f}) at step ${this.lastStep}`);
    this.optimizer.paramGroups.forEach((g, i) => { (g as Record<string, unknown>)['lr'] = this.baseLrs[i]! * f; });
  }
  step(): void {
    this.lastStep += 1;
    this.apply();
  }
  get currentStep(): number {
    return this.lastStep;
  }
  get lr(): number {
    return this.optimizer.paramGroups[0]!['lr'] as number;
  }
  stateDict(): LrScheduleState {
    return { lastStep: this.lastStep, baseLrs: [...this.baseLrs] };
  }
  loadStateDict(sd: LrScheduleState): void {
    if (!sd || !Number.isInteger(sd.lastStep) || sd.lastStep < 0 || !Array.isArray(sd.baseLrs) || !sd.baseLrs.every(Number.isFinite)) {
      throw new ArgumentError(`LRScheduler.loadStateDict: expected { lastStep: integer >= 0, baseLrs: finite numbers }, got ${JSON.stringify(sd)}`);
    }
    if (sd.baseLrs.length !== this.baseLrs.length) throw new ArgumentError(`LRScheduler.loadStateDict: ${sd.baseLrs.length} base lrs saved, optimiser has ${this.baseLrs.length} groups`);
    this.lastStep = sd.lastStep;
    this.baseLrs.splice(0, this.baseLrs.length, ...sd.baseLrs);
    this.apply();
  }
}
