/** nn.Embedding: a [num, dim] table initialised N(0, 1), as in PyTorch. */
import { ArgumentError } from '../../errors.ts';
import { embedding, randn } from '../../ops/index.ts';
import type { Tensor } from '../../tensor.ts';
import { UnaryModule } from '../module.ts';
import { type LayerOptions, layerGenerator } from './options.ts';

export class Embedding extends UnaryModule {
  readonly weight: Tensor;

  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, options: LayerOptions = {}) {
    super();
    for (const [k, v] of [['numEmbeddings', numEmbeddings], ['embeddingDim', embeddingDim]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ArgumentError(`Embedding: ${k} must be an integer >= 1, got ${v}`);
    }
    this.weight = this.registerParameter('weight', randn([numEmbeddings, embeddingDim], { generator: layerGenerator(options), backend: options.backend }));
  }

  /** indices: integer-valued tensor of any shape -> [...shape, embeddingDim]. */
  forward(indices: Tensor): Tensor {
    return embedding(indices, this.weight);
  }

  protected override extraRepr(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}`;
  }
}
