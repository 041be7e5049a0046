/**
 * LoRA configuration, PEFT's LoraConfig in our terms. The update added to a wrapped layer is
 * `scale * weight * up(down(x))` with `scale = alpha / rank` (PEFT) and a per-adapter
 * `weight` chosen at run time (1 by default). CtrLoRA uses no alpha: its update is
 * `up(down(x))`, i.e. scale 1 — get it with `alpha = rank` (the default when alpha is left out).
 */
import { ArgumentError } from '../../core/errors.ts';
import { type NamePattern, matchesPattern } from '../../core/nn/module.ts';

/** Which layer kinds a target pattern may wrap. CtrLoRA wraps Linear layers only. */
export type LoraLayerType = 'linear' | 'conv2d';

/**
 * How `down` starts: `normal` draws N(0, std = 1/rank) as CtrLoRA does; `kaiming_uniform` is
 * PEFT's default (torch's nn.Linear init, a = sqrt(5)). `up` always starts at zero, so a fresh
 * adapter leaves the model's output unchanged.
 */
export type LoraInit = 'normal' | 'kaiming_uniform';

export interface LoraConfig {
  /** Inner dimension r of the low-rank update (CtrLoRA default 128). */
  rank: number;
  /** scale = alpha / rank. Default: rank (scale 1, CtrLoRA's update). */
  alpha?: number;
  /**
   * Which modules to wrap, matched against each layer's dotted path (PEFT's target_modules):
   * a plain string matches a path equal to it or ending in `.${string}` (`to_q` hits
   * `down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q`); a string with `*` is a
   * glob over the whole path (`*` crosses dots); a RegExp is tested against the path; a
   * function decides. `'all'` wraps every layer of the allowed types.
   */
  targetModules: 'all' | readonly NamePattern[];
  /** Paths that are never wrapped, same pattern rules. */
  excludeModules?: readonly NamePattern[];
  /** Layer kinds that may be wrapped. Default ['linear']. */
  layerTypes?: readonly LoraLayerType[];
  /** Dropout on the LoRA branch's input in training mode. Default 0. */
  dropout?: number;
  /** Initialisation of `down` (default `normal`, CtrLoRA's). */
  init?: LoraInit;
  /** Seed of the stream the `down` weights are drawn from (layers in module order). Default 0. */
  seed?: number;
}

export interface ResolvedLoraConfig {
  rank: number;
  alpha: number;
  scale: number;
  layerTypes: readonly LoraLayerType[];
  dropout: number;
  init: LoraInit;
  seed: number;
}

export function resolveLoraConfig(config: LoraConfig, where: string): ResolvedLoraConfig {
  const { rank } = config;
  if (!Number.isInteger(rank) || rank < 1) throw new ArgumentError(`${where}: rank must be an integer >= 1, got ${rank}`);
  const alpha = config.alpha ?? rank;
  if (!Number.isFinite(alpha)) throw new ArgumentError(`${where}: alpha must be a finite number, got ${alpha}`);
  const dropout = config.dropout ?? 0;
  if (!(dropout >= 0 && dropout < 1)) throw new ArgumentError(`${where}: dropout must be in [0, 1), got ${dropout}`);
  const layerTypes = config.layerTypes ?? ['linear'];
  for (const t of layerTypes) {
    if (t !== 'linear' && t !== 'conv2d') throw new ArgumentError(`${where}: layerTypes entries must be 'linear' or 'conv2d', got ${JSON.stringify(t)}`);
  }
  const init = config.init ?? 'normal';
  if (init !== 'normal' && init !== 'kaiming_uniform') throw new ArgumentError(`${where}: init must be 'normal' or 'kaiming_uniform', got ${JSON.stringify(init)}`);
  const seed = config.seed ?? 0;
  if (!Number.isInteger(seed)) throw new ArgumentError(`${where}: seed must be an integer, got ${seed}`);
  return { rank, alpha, scale: alpha / rank, layerTypes, dropout, init, seed };
}

/**
 * PEFT's target_modules matching (see LoraConfig.targetModules): Module's own pattern rules
 * (glob, RegExp, function), except that a plain name without `*` also matches as a suffix.
 */
export function matchesTarget(pattern: NamePattern, path: string): boolean {
  if (typeof pattern === 'string' && !pattern.includes('*')) return path === pattern || path.endsWith(`.${pattern}`);
  return matchesPattern(pattern, path);
}
