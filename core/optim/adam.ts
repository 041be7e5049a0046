/**
 * Adam and AdamW with PyTorch's formulas and defaults, each update one fused backend kernel
 * (Backend.adamStep): a parameter's values, m and v never leave the device.
 */
import { ArgumentError } from '../errors.ts';
import { dense, wrap } from '../ops/util.ts';
import { replaceStorage } from '../nn/parameter.ts';
import { Optimizer, type ParamsInput } from './optimizer.ts';

export interface AdamHyperParams {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  [key: string]: number | boolean;
}

export type AdamOptions = Partial<Pick<AdamHyperParams, 'lr' | 'eps' | 'weightDecay'>> & { betas?: readonly [number, number] };

function hyper(options: AdamOptions, defaultDecay: number): AdamHyperParams {
  return {
    lr: options.lr ?? 1e-3,
    beta1: options.betas?.[0] ?? 0.9,
    beta2: options.betas?.[1] ?? 0.999,
    eps: options.eps ?? 1e-8,
    weightDecay: options.weightDecay ?? defaultDecay,
  };
}

abstract class AdamBase extends Optimizer<AdamHyperParams> {
  protected abstract readonly decoupled: boolean;

  protected checkHyper(g: AdamHyperParams): void {
    const name = this.constructor.name;
    // `>= 0` alone lets Infinity through (lr: Infinity turns every weight into NaN in one step).
    const ok = (x: number) => Number.isFinite(x) && x >= 0;
    if (!ok(g.lr)) throw new ArgumentError(`${name}: lr must be a finite number >= 0, got ${g.lr}`);
    if (!ok(g.eps)) throw new ArgumentError(`${name}: eps must be a finite number >= 0, got ${g.eps}`);
    for (const b of [g.beta1, g.beta2]) if (!(b >= 0 && b < 1)) throw new ArgumentError(`${name}: betas must be in [0, 1), got ${g.beta1}, ${g.beta2}`);
    if (!ok(g.weightDecay)) throw new ArgumentError(`${name}: weightDecay must be a finite number >= 0, got ${g.weightDecay}`);
  }

  step(): void {
    this.checkAllHyper();
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (!p.grad) continue;
        const s = this.stateOf(p);
        if (!s.buffers.has('exp_avg')) {
          s.buffers.set('exp_avg', p.zerosLike());
          s.buffers.set('exp_avg_sq', p.zerosLike());
        }
        const m = s.buffers.get('exp_avg')!;
        const v = s.buffers.get('exp_avg_sq')!;
        s.step += 1;
        const out = p.backend.adamStep(p.storage, dense(p.grad), m.storage, v.storage, {
          lr: g.lr, beta1: g.beta1, beta2: g.beta2, eps: g.eps, weightDecay: g.weightDecay, decoupled: this.decoupled, step: s.step,
        });
        replaceStorage(p, out.param);
        s.buffers.set('exp_avg', this.keep(wrap(out.m, p.shape)));
        s.buffers.set('exp_avg_sq', this.keep(wrap(out.v, p.shape)));
        p.backend.dispose(m.storage);
        p.backend.dispose(v.storage);
      }
    }
  }
}

/** Adam (L2 weight decay added to the gradient). Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weightDecay 0. */
export class Adam extends AdamBase {
  protected readonly decoupled = false;
  constructor(params: ParamsInput<AdamHyperParams>, options: AdamOptions = {}) {
    super(params, hyper(options, 0));
  }
}

/** AdamW (decoupled weight decay). Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weightDecay 1e-2. */
export class AdamW extends AdamBase {
  protected readonly decoupled = true;
  constructor(params: ParamsInput<AdamHyperParams>, options: AdamOptions = {}) {
    super(params, hyper(options, 1e-2));
  }
}
