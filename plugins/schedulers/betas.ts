/**
 * Noise-schedule tables on the host, in float64: betas for each beta_schedule diffusers
 * knows, alpha-bar (cumulative product of 1 - beta), zero-terminal-SNR rescaling, and the
 * numpy helpers (linspace, arange, round-half-even, interp) whose exact semantics decide
 * which integer timesteps diffusers picks.
 */
import { ArgumentError } from '../../core/index.ts';
import type { BaseSchedulerConfig } from './types.ts';

/** numpy.linspace(start, end, n): evenly spaced, last value exactly `end`. */
export function linspace(start: number, end: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = start;
    return out;
  }
  const step = (end - start) / (n - 1);
  for (let i = 0; i < n; i++) out[i] = start + i * step;
  out[n - 1] = end;
  return out;
}

/**
 * numpy.arange(start, stop, step) with a float step: length ceil((stop - start) / step), and
 * values start + i * delta where delta = (start + step) - start, as numpy's fill computes it.
 */
export function arange(start: number, stop: number, step: number): Float64Array {
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const out = new Float64Array(n);
  const delta = start + step - start;
  for (let i = 0; i < n; i++) out[i] = start + i * delta;
  return out;
}

/** numpy.round: halves go to the even neighbour (np.round(812.5) = 812). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** numpy.interp(x, arange(len(fp)), fp) for increasing integer abscissae 0..len-1. */
export function interpIndex(x: number, fp: Float64Array): number {
  if (x <= 0) return fp[0]!;
  const last = fp.length - 1;
  if (x >= last) return fp[last]!;
  const i = Math.floor(x);
  const w = x - i;
  return w === 0 ? fp[i]! : fp[i]! * (1 - w) + fp[i + 1]! * w;
}

/** diffusers' betas_for_alpha_bar with the cosine alpha-bar of Nichol & Dhariwal (improved DDPM). */
export function squaredCosCapV2Betas(numTrainTimesteps: number, maxBeta = 0.999): Float64Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
  const betas = new Float64Array(numTrainTimesteps);
  for (let i = 0; i < numTrainTimesteps; i++) {
    const t1 = i / numTrainTimesteps;
    const t2 = (i + 1) / numTrainTimesteps;
    betas[i] = Math.min(1 - alphaBar(t2) / alphaBar(t1), maxBeta);
  }
  return betas;
}

/** The betas a config describes (trainedBetas win over betaSchedule, as in diffusers). */
export function makeBetas(config: Pick<BaseSchedulerConfig, 'numTrainTimesteps' | 'betaStart' | 'betaEnd' | 'betaSchedule' | 'trainedBetas' | 'rescaleBetasZeroSnr'>): Float64Array {
  const n = config.numTrainTimesteps;
  let betas: Float64Array;
  if (config.trainedBetas) {
    if (config.trainedBetas.length !== n) {
      throw new ArgumentError(`scheduler: trainedBetas has ${config.trainedBetas.length} values, numTrainTimesteps is ${n}`);
    }
    betas = Float64Array.from(config.trainedBetas);
  } else {
    switch (config.betaSchedule) {
      case 'linear':
        betas = linspace(config.betaStart, config.betaEnd, n);
        break;
      case 'scaled_linear':
        // The schedule of the latent diffusion models (SD1.x): linear in sqrt(beta).
        betas = linspace(Math.sqrt(config.betaStart), Math.sqrt(config.betaEnd), n).map((b) => b * b);
        break;
      case 'squaredcos_cap_v2':
        betas = squaredCosCapV2Betas(n);
        break;
      case 'sigmoid':
        betas = linspace(-6, 6, n).map((x) => (1 / (1 + Math.exp(-x))) * (config.betaEnd - config.betaStart) + config.betaStart);
        break;
      default:
        throw new ArgumentError(`scheduler: betaSchedule '${String(config.betaSchedule)}' is not one of linear, scaled_linear, squaredcos_cap_v2, sigmoid`);
    }
  }
  for (let i = 0; i < n; i++) {
    const b = betas[i]!;
    if (!(b >= 0 && b <= 1)) throw new ArgumentError(`scheduler: beta[${i}] = ${b} is outside [0, 1]`);
  }
  return config.rescaleBetasZeroSnr ? rescaleZeroTerminalSnr(betas) : betas;
}

/** Cumulative product of alphas = 1 - betas. */
export function alphasCumprodOf(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc *= 1 - betas[i]!;
    out[i] = acc;
  }
  return out;
}

/**
 * Lin et al. 2023, Algorithm 1: shift and scale sqrt(alpha-bar) so that the last timestep has
 * zero signal (SNR 0) while the first keeps its value, then recover betas from the ratios.
 */
export function rescaleZeroTerminalSnr(betas: Float64Array): Float64Array {
  const sqrtAbar = alphasCumprodOf(betas).map(Math.sqrt);
  const first = sqrtAbar[0]!;
  const last = sqrtAbar[sqrtAbar.length - 1]!;
  const abar = sqrtAbar.map((s) => ((s - last) * first / (first - last)) ** 2);
  const out = new Float64Array(betas.length);
  out[0] = 1 - abar[0]!;
  for (let i = 1; i < betas.length; i++) out[i] = 1 - abar[i]! / abar[i - 1]!;
  return out;
}
