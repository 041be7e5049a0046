/**
 * The optimiser base: parameter groups with their own hyper-parameters (torch's
 * param_groups), per-parameter state, zeroGrad, and a state dict made of tensors plus
 * JSON-able metadata, so it saves to a safetensors file and a run resumes exactly.
 */
import { ArgumentError, TensorError, fmtShape } from '../errors.ts';
import { sameShape } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { copyInto, isDenseLeaf } from '../nn/parameter.ts';

export type Hyper = Record<string, number | boolean>;

export type ParamGroup<H extends Hyper> = H & { params: Tensor[] };
/** What a constructor takes: parameters, or groups with some hyper-parameters overridden. */
export type ParamsInput<H extends Hyper> = Iterable<Tensor> | readonly (Partial<H> & { params: Iterable<Tensor> })[];

/** Per-parameter state: a step count and named tensors (exp_avg, momentum_buffer, ...). */
export interface ParamState {
  step: number;
  buffers: Map<string, Tensor>;
}

/** An optimiser's saved state: tensors named `state.{paramIndex}.{buffer}`, the rest as JSON. */
export interface OptimizerStateDict {
  tensors: Map<string, Tensor>;
  meta: {
    type: string;
    paramGroups: { hyper: Hyper; params: number[] }[];
    steps: Record<string, number>;
  };
}

export class OptimizerError extends TensorError {}

/** An LR schedule's saved state: the steps taken and each group's base lr. */
export interface LrScheduleState {
  lastStep: number;
  baseLrs: number[];
}

export abstract class Optimizer<H extends Hyper> {
  readonly paramGroups: ParamGroup<H>[];
  protected readonly state = new Map<Tensor, ParamState>();

  constructor(params: ParamsInput<H>, readonly defaults: H) {
    const list = [...(params as Iterable<unknown>)];
    const isGroups = list.length > 0 && list.every((g) => typeof g === 'object' && g !== null && 'params' in g && !('storage' in g));
    const groups = isGroups ? (list as (Partial<H> & { params: Iterable<Tensor> })[]) : [{ params: list as Tensor[] } as unknown as Partial<H> & { params: Iterable<Tensor> }];
    const seen = new Set<Tensor>();
    this.paramGroups = groups.map((g, gi) => {
      const ps = [...g.params];
      for (const p of ps) {
        if (seen.has(p)) throw new ArgumentError(`${this.constructor.name}: a parameter (${p.name ?? fmtShape(p.shape)}) appears twice (group ${gi})`);
        if (!isDenseLeaf(p)) {
          throw new ArgumentError(`${this.constructor.name}: can only optimise dense leaf tensors (parameters), ${p.name ?? fmtShape(p.shape)} is computed or a view`);
        }
        seen.add(p);
      }
      return { ...defaults, ...g, params: ps } as ParamGroup<H>;
    });
    if (seen.size === 0) throw new ArgumentError(`${this.constructor.name}: got an empty parameter list`);
    for (const g of this.paramGroups) this.checkHyper(g);
  }

  /** Validates a group's hyper-parameters (each optimiser names its own rules). */
  protected abstract checkHyper(group: H): void;
  /**
   * Validates every group again: step() calls it, because hyper-parameters change after
   * construction (an LR schedule, a user assigning `group.lr`, a loaded state dict).
   */
  protected checkAllHyper(): void {
    this.paramGroups.forEach((g, gi) => {
      try {
        this.checkHyper(g);
      } catch (e) {
        if (e instanceof ArgumentError && this.paramGroups.length > 1) throw new ArgumentError(`${e.message} (parameter group ${gi})`);
        throw e;
      }
    });
  }
  /** The LR schedule driving this optimiser (set by LRScheduler): saved and restored with it. */
  lrScheduler: { stateDict(): LrScheduleState; loadStateDict(sd: LrScheduleState): void } | null = null;
  /** Applies one update to every parameter that has a gradient. */
  abstract step(): void;

  zeroGrad(): void {
    for (const g of this.paramGroups) for (const p of g.params) p.grad = null;
  }

  /** Every parameter, in group order (the indices the state dict uses). */
  get params(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /** The learning rate of each group (what LR schedules set). */
  get lrs(): number[] {
    return this.paramGroups.map((g) => g['lr'] as number);
  }

  /** Marks a state tensor as long-lived on its backend (see Backend.keep): it must survive a tidy() around step(). */
  protected keep(t: Tensor): Tensor {
    t.backend.keep?.(t.storage);
    return t;
  }

  protected stateOf(p: Tensor): ParamState {
    let s = this.state.get(p);
    if (!s) this.state.set(p, (s = { step: 0, buffers: new Map() }));
    return s;
  }

  stateDict(): OptimizerStateDict {
    const index = new Map(this.params.map((p, i) => [p, i]));
    const tensors = new Map<string, Tensor>();
    const steps: Record<string, number> = {};
    for (const [p, s] of this.state) {
      const i = index.get(p)!;
      steps[i] = s.step;
      for (const [name, t] of s.buffers) tensors.set(`state.${i}.${name}`, t);
    }
    const paramGroups = this.paramGroups.map(({ params, ...hyper }) => ({ hyper: { ...(hyper as Hyper) }, params: params.map((p) => index.get(p)!) }));
    return { tensors, meta: { type: this.constructor.name, paramGroups, steps } };
  }

  /** Restores a state saved by stateDict() from an optimiser over the same parameters. */
  loadStateDict(sd: OptimizerStateDict): void {
    const name = this.constructor.name;
    if (sd.meta.type !== name) throw new OptimizerError(`${name}.loadStateDict: the state was saved by ${sd.meta.type}`);
    if (sd.meta.paramGroups.length !== this.paramGroups.length) {
      throw new OptimizerError(`${name}.loadStateDict: ${sd.meta.paramGroups.length} parameter groups saved, this optimiser has ${this.paramGroups.length}`);
    }
    sd.meta.paramGroups.forEach((g, gi) => {
      if (g.params.length !== this.paramGroups[gi]!.params.length) {
        throw new OptimizerError(`${name}.loadStateDict: group ${gi} saved ${g.params.length} parameters, this optimiser has ${this.paramGroups[gi]!.params.length}`);
      }
    });
    const params = this.params;
    const restored = new Map<Tensor, ParamState>();
    for (const [key, t] of sd.tensors) {
      const m = /^state\.(\d+)\.([A-Za-z0-9_]+)$/.exec(key);
      const p = m ? params[Number(m[1])] : undefined;
      if (!m || !p) throw new OptimizerError(`${name}.loadStateDict: unexpected state tensor '${key}'`);
      if (!sameShape(t.shape, p.shape)) {
        throw new OptimizerError(`${name}.loadStateDict: '${key}' has shape ${fmtShape(t.shape)}, parameter ${m[1]} has ${fmtShape(p.shape)}`);
      }
      const buf = p.zerosLike();
      copyInto(buf, t);
      let s = restored.get(p);
      if (!s) restored.set(p, (s = { step: sd.meta.steps[m[1]!] ?? 0, buffers: new Map() }));
      s.buffers.set(m[2]!, buf);
    }
    for (const [i, step] of Object.entries(sd.meta.steps)) {
      const p = params[Number(i)];
      if (!p) throw new OptimizerError(`${name}.loadStateDict: step saved for parameter ${i}, which does not exist`);
      if (!restored.has(p)) restored.set(p, { step, buffers: new Map() });
    }
    this.state.clear();
    for (const [p, s] of restored) this.state.set(p, s);
    sd.meta.paramGroups.forEach((g, gi) => Object.assign(this.paramGroups[gi]!, g.hyper));
  }
}
