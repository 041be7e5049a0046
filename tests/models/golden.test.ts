/**
 * Our layers against PyTorch's: weights, inputs and outputs made by
 * tests/fixtures/make_golden.py (torch layers, fixed seeds), compared within float32 tolerance.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Conv2d, GroupNorm, MultiheadAttention, ReferenceBackend, type Module, type Tensor, noGrad, tensor } from '../../core/index.ts';
import { FeedForward, Transformer2DModel } from '../../plugins/unet/transformer.ts';
import { ResnetBlock2D } from '../../plugins/unet/resnet.ts';
import { timestepSinusoids } from '../../plugins/unet/embeddings.ts';
import { SpatialSelfAttention } from '../../plugins/vae/attention.ts';
import { UNet2DConditionModel } from '../../plugins/unet/unet.ts';
import { AutoencoderKL } from '../../plugins/vae/autoencoder.ts';

interface Encoded { shape: number[]; data: number[] }
interface Fixture { note: string; inputs: Record<string, Encoded>; weights: Record<string, Encoded>; output: Encoded }

function fixture(name: string): Fixture {
  return JSON.parse(readFileSync(new URL(`../fixtures/golden/${name}.json`, import.meta.url), 'utf8')) as Fixture;
}
const asTensor = (e: Encoded): Tensor => tensor(e.data, e.shape);

/** Loads the fixture's weights (strict: every key of the module and no other) and returns its inputs. */
function load(module: Module, f: Fixture): Record<string, Tensor> {
  module.loadStateDict(new Map(Object.entries(f.weights).map(([k, v]) => [k, asTensor(v)])));
  return Object.fromEntries(Object.entries(f.inputs).map(([k, v]) => [k, asTensor(v)]));
}

function expectClose(actual: Tensor, f: Fixture, atol = 2e-5, rtol = 1e-4): void {
  expect(actual.shape).toEqual(f.output.shape);
  const a = actual.toArray();
  let worst = 0;
  f.output.data.forEach((e, i) => {
    worst = Math.max(worst, Math.abs(a[i]! - e) - rtol * Math.abs(e));
  });
  expect(worst, f.note).toBeLessThan(atol);
}

describe('golden values from PyTorch (float32)', () => {
  it('GroupNorm', () => {
    const f = fixture('group_norm');
    const m = new GroupNorm(4, 8, { eps: 1e-5 });
    const { x } = load(m, f);
    expectClose(noGrad(() => m.forward(x!)), f);
  });

  it('Conv2d 3x3 stride 2 padding 1', () => {
    const f = fixture('conv2d_stride2');
    const m = new Conv2d(3, 4, 3, { stride: 2, padding: 1 });
    const { x } = load(m, f);
    expectClose(noGrad(() => m.forward(x!)), f);
  });

  it('ResnetBlock2D with a time embedding and a conv shortcut', () => {
    const f = fixture('resnet_block');
    const m = new ResnetBlock2D(4, 8, { tembChannels: 6, groups: 2, eps: 1e-5 });
    const { x, temb } = load(m, f);
    expectClose(noGrad(() => m.forward(x!, temb!)), f);
  });

  it('cross-attention (to_q/to_k/to_v/to_out.0) against nn.MultiheadAttention', () => {
    const f = fixture('cross_attention');
    const m = new MultiheadAttention(8, 2, { contextDim: 6 });
    const { x, context } = load(m, f);
    expectClose(noGrad(() => m.forward(x!, context!)), f);
  });

  it('GEGLU feed-forward', () => {
    const f = fixture('geglu_feed_forward');
    const m = new FeedForward(6);
    const { x } = load(m, f);
    expectClose(noGrad(() => m.forward(x!)), f);
  });

  it('Transformer2DModel (GroupNorm, proj_in, self- and cross-attention, GEGLU, proj_out)', () => {
    const f = fixture('transformer2d');
    const m = new Transformer2DModel(8, { heads: 2, crossAttentionDim: 6, groups: 4 });
    const { x, context } = load(m, f);
    expectClose(noGrad(() => m.forward(x!, context!)), f);
  });

  it('VAE mid-block spatial self-attention', () => {
    const f = fixture('vae_attention');
    const m = new SpatialSelfAttention(8, 4, 1e-6);
    const { x } = load(m, f);
    expectClose(noGrad(() => m.forward(x!)), f);
  });

  it('timestep sinusoids (flip_sin_to_cos, shift 0)', () => {
    const f = fixture('timestep_sinusoids');
    const t = f.inputs.timesteps!.data;
    // float32 arguments up to 999 rad: torch rounds t * freq to float32 first.
    expectClose(timestepSinusoids(t, 16, new ReferenceBackend()), f, 2e-4);
  });

  it('a whole tiny UNet2DConditionModel with ControlNet residuals (torch re-wiring of diffusers)', () => {
    const f = fixture('unet_tiny');
    const m = new UNet2DConditionModel({ preset: 'tiny', blockOutChannels: [4, 8], normNumGroups: 2, crossAttentionDim: 4, attentionHeads: 2 });
    const inp = load(m, f);
    const down = [0, 1, 2, 3].map((i) => inp[`down_res_${i}`]!);
    const y = noGrad(() => m.forward(inp.sample!, inp.timesteps!, inp.context!, { downBlockAdditionalResiduals: down, midBlockAdditionalResidual: inp.mid_res! }));
    expectClose(y, f, 1e-4);
  });

  it('a whole tiny AutoencoderKL: posterior moments and decoding of the mean', () => {
    const f = fixture('vae_tiny_moments');
    const m = new AutoencoderKL({ preset: 'tiny', blockOutChannels: [4, 8], normNumGroups: 2 });
    const { x } = load(m, f);
    const posterior = noGrad(() => m.encode(x!));
    expectClose(posterior.parameters, f, 1e-4);
    expectClose(noGrad(() => m.decode(posterior.mode())), fixture('vae_tiny_decode_mean'), 1e-4);
  });
});
