/**
 * diffusers' ControlNetConditioningEmbedding (LDM's `input_hint_block`): a small conv stack
 * from the condition image (pixel space, 8x the latent side) to conv_in's width, downsampling
 * 3 times by stride-2 convs; conv_out starts at zero. SD1.5: 3 -> 16, 32, 96, 256 -> 320.
 */
import { Conv2d, Module, ModuleList, type LayerOptions, type Tensor } from '../../core/index.ts';
import { zeroConv } from './zero-conv.ts';

export class ControlNetConditioningEmbedding extends Module {
  readonly conv_in: Conv2d;
  readonly blocks: ModuleList<Conv2d>;
  readonly conv_out: Conv2d;
  constructor(conditioningChannels: number, blockOutChannels: readonly number[], embeddingChannels: number, options: LayerOptions = {}) {
    super();
    this.conv_in = this.registerModule('conv_in', new Conv2d(conditioningChannels, blockOutChannels[0]!, 3, { ...options, padding: 1 }));
    const blocks: Conv2d[] = [];
    for (let i = 0; i < blockOutChannels.length - 1; i++) {
      const [a, b] = [blockOutChannels[i]!, blockOutChannels[i + 1]!];
      blocks.push(new Conv2d(a, a, 3, { ...options, padding: 1 }));
      blocks.push(new Conv2d(a, b, 3, { ...options, padding: 1, stride: 2 }));
    }
    this.blocks = this.registerModule('blocks', new ModuleList(blocks));
    this.conv_out = this.registerModule('conv_out', zeroConv(blockOutChannels.at(-1)!, embeddingChannels, options, 3));
  }
  forward(cond: Tensor): Tensor {
    let h = this.conv_in.forward(cond).silu();
    for (const b of this.blocks) h = b.forward(h).silu();
    return this.conv_out.forward(h);
  }
}
