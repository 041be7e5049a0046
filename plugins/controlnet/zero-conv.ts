/** A 1x1 conv whose weight and bias start at zero: a new branch adds nothing until it learns. */
import { Conv2d, init, type LayerOptions } from '../../core/index.ts';

export function zeroConv(inChannels: number, outChannels: number, options: LayerOptions = {}, kernel: 1 | 3 = 1): Conv2d {
  const conv = new Conv2d(inChannels, outChannels, kernel, { ...options, padding: kernel === 3 ? 1 : 0 });
  init.zeros_(conv.weight);
  init.zeros_(conv.bias!);
  return conv;
}
