/**
 * nn.BatchNorm1d / BatchNorm2d: per-channel batch normalisation with running statistics,
 * as in PyTorch (state-dict keys weight, bias, running_mean, running_var, num_batches_tracked).
 */
import { noGrad } from '../../autograd.ts';
import { ArgumentError, ShapeError, fmtShape } from '../../errors.ts';
import { batchNorm, full } from '../../ops/index.ts';
import type { Tensor } from '../../tensor.ts';
import { UnaryModule } from '../module.ts';
import type { LayerOptions } from './options.ts';

export interface BatchNormOptions extends Pick<LayerOptions, 'backend'> {
  eps?: number;
  /** Weight of each batch in the running averages (0.1); null: a plain cumulative average. */
  momentum?: number | null;
  /** Learnable weight (1) and bias (0) per channel. Default true. */
  affine?: boolean;
  /** Keep running statistics for eval mode; without them batch statistics are always used. Default true. */
  trackRunningStats?: boolean;
}

abstract class BatchNormBase extends UnaryModule {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  readonly numBatchesTracked: Tensor | null;
  readonly eps: number;
  readonly momentum: number | null;

  constructor(readonly numFeatures: number, options: BatchNormOptions = {}) {
    super();
    const name = new.target.name;
    if (!Number.isInteger(numFeatures) || numFeatures < 1) throw new ArgumentError(`${name}: numFeatures must be a positive integer, got ${numFeatures}`);
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum === undefined ? 0.1 : options.momentum;
    if (this.momentum !== null && !(this.momentum >= 0 && this.momentum <= 1)) {
      throw new ArgumentError(`${name}: momentum must be in [0, 1] or null, got ${this.momentum}`);
    }
    const affine = options.affine ?? true;
    const track = options.trackRunningStats ?? true;
    const backend = options.backend;
    this.weight = this.registerParameter('weight', affine ? full([numFeatures], 1, { backend }) : null);
    this.bias = this.registerParameter('bias', affine ? full([numFeatures], 0, { backend }) : null);
    this.runningMean = this.registerBuffer('running_mean', track ? full([numFeatures], 0, { backend }) : null);
    this.runningVar = this.registerBuffer('running_var', track ? full([numFeatures], 1, { backend }) : null);
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', track ? full([], 0, { backend }) : null);
  }

  /** The input ranks this layer accepts. */
  protected abstract readonly ranks: readonly number[];

  forward(x: Tensor): Tensor {
    if (!this.ranks.includes(x.ndim) || x.shape[1] !== this.numFeatures) {
      throw new ShapeError(`${this.typeName}(${this.numFeatures}): input must be ${this.ranks.map((r) => `${r}-D`).join(' or ')} with ${this.numFeatures} channels on axis 1, got ${fmtShape(x.shape)}`);
    }
    const useBatchStats = this.training || !this.runningMean;
    let momentum = this.momentum ?? 0;
    if (this.training && this.numBatchesTracked) {
      const n = this.numBatchesTracked;
      noGrad(() => n.setData(n.add(1)));
      if (this.momentum === null) momentum = 1 / n.item();
    }
    return batchNorm(x, this.runningMean, this.runningVar, {
      weight: this.weight, bias: this.bias, training: useBatchStats, momentum, eps: this.eps,
    });
  }

  protected override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}`;
  }
}

/** Over [N, C] or [N, C, L] inputs. */
export class BatchNorm1d extends BatchNormBase {
  protected readonly ranks = [2, 3];
}

/** Over [N, C, H, W] inputs. */
export class BatchNorm2d extends BatchNormBase {
  protected readonly ranks = [4];
}
