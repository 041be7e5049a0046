/**
 * The sigma view of a VP schedule that Euler and DPM-Solver work in:
 * sigma = sqrt((1 - abar) / abar), so x_t / sqrt(abar) = x0 + sigma eps. Also Karras et al.'s
 * rho-spaced sigmas and the inverse map from a sigma back to a (fractional) timestep.
 */
import { linspace } from './betas.ts';

export function sigmasOf(alphasCumprod: Float64Array): Float64Array {
  return alphasCumprod.map((a) => Math.sqrt((1 - a) / a));
}

/** The VP (alpha_t, sigma_t) pair of a sigma: alpha = 1 / sqrt(sigma^2 + 1), sigma_t = sigma alpha. */
export function alphaSigmaOf(sigma: number): { alpha: number; sigma: number } {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  return { alpha, sigma: sigma * alpha };
}

/** Karras et al. 2022, eq. 5 with rho = 7: n sigmas from sigmaMax down to sigmaMin. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number, rho = 7): Float64Array {
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  return linspace(0, 1, n).map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/** diffusers' _sigma_to_t: the fractional timestep whose log-sigma interpolates to log(sigma). */
export function sigmaToT(sigma: number, logSigmas: Float64Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  // low = the last index whose log-sigma is <= log(sigma) (log-sigmas increase with t)
  let low = 0;
  for (let i = 0; i < logSigmas.length; i++) if (logSigma - logSigmas[i]! >= 0) low = i;
  low = Math.min(low, logSigmas.length - 2);
  const lo = logSigmas[low]!;
  const hi = logSigmas[low + 1]!;
  const w = Math.min(Math.max((lo - logSigma) / (lo - hi), 0), 1);
  return (1 - w) * low + w * (low + 1);
}
