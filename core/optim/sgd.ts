/** SGD with momentum, dampening, Nesterov and L2 weight decay: torch.optim.SGD's update. */
import { noGrad } from '../autograd.ts';
import { ArgumentError } from '../errors.ts';
import { dense } from '../ops/util.ts';
import { replaceStorage } from '../nn/parameter.ts';
import { Optimizer, type ParamsInput } from './optimizer.ts';

export interface SGDHyperParams {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  [key: string]: number | boolean;
}

export class SGD extends Optimizer<SGDHyperParams> {
  constructor(params: ParamsInput<SGDHyperParams>, options: Partial<SGDHyperParams> = {}) {
    super(params, { lr: options.lr ?? 1e-3, momentum: options.momentum ?? 0, dampening: options.dampening ?? 0, weightDecay: options.weightDecay ?? 0, nesterov: options.nesterov ?? false });
  }

  protected checkHyper(g: SGDHyperParams): void {
    const ok = (x: number) => Number.isFinite(x) && x >= 0;
    if (!ok(g.lr)) throw new ArgumentError(`SGD: lr must be a finite number >= 0, got ${g.lr}`);
    if (!ok(g.momentum)) throw new ArgumentError(`SGD: momentum must be a finite number >= 0, got ${g.momentum}`);
    if (!(g.dampening >= 0 && g.dampening <= 1)) throw new ArgumentError(`SGD: dampening must be in [0, 1], got ${g.dampening}`);
    if (!ok(g.weightDecay)) throw new ArgumentError(`SGD: weightDecay must be a finite number >= 0, got ${g.weightDecay}`);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) throw new ArgumentError('SGD: nesterov needs momentum > 0 and dampening 0');
  }

  step(): void {
    this.checkAllHyper();
    noGrad(() => {
      for (const g of this.paramGroups) {
        for (const p of g.params) {
          if (!p.grad) continue;
          const s = this.stateOf(p);
          s.step += 1;
          const param = p.detach();
          let d = p.grad;
          if (g.weightDecay !== 0) d = d.add(param.mul(g.weightDecay));
          if (g.momentum !== 0) {
            const prev = s.buffers.get('momentum_buffer');
            const buf = prev ? prev.mul(g.momentum).add(d.mul(1 - g.dampening)) : d.clone();
            s.buffers.set('momentum_buffer', this.keep(buf));
            prev?.dispose(); // state this optimiser owns, replaced (as Adam does with its moments)
            d = g.nesterov ? d.add(buf.mul(g.momentum)) : buf;
          }
          replaceStorage(p, dense(param.sub(d.mul(g.lr))));
        }
      }
    });
  }
}
