/**
 * The ctrLoRA trainable set on a (base) ControlNet with diffusers names: every LoRA layer,
 * the zero convs (`controlnet_down_blocks.*`, `controlnet_mid_block`) and the transformer
 * norms (`attentions.<j>.norm` and `attentions.<j>.transformer_blocks.<k>.norm1/2/3`).
 * CtrLoRA trains "parameters whose name contains norm" in LDM names, which reaches only the
 * transformer norms: its ResBlock GroupNorms are `in_layers.0` / `out_layers.0`. Those
 * (`resnets.<j>.norm1/norm2` here) join the set only with `includeResnetNorms`.
 */
import { ArgumentError } from '../../core/errors.ts';
import type { Module } from '../../core/nn/module.ts';
import type { Tensor } from '../../core/tensor.ts';
import { LORA_HOST_NAME } from './lora-layer.ts';

export interface CtrloraTrainableOptions {
  /** Only this adapter's LoRA parameters (default: every adapter's). */
  adapter?: string;
  /** Also train the ResBlock GroupNorms (`resnets.*.norm1/norm2`). Default false (CtrLoRA's choice). */
  includeResnetNorms?: boolean;
  /** Set requiresGrad: true on the set and false on everything else. Default true. */
  apply?: boolean;
}

export type CtrloraGroup = 'lora' | 'zeroConv' | 'transformerNorm' | 'resnetNorm';

export interface CtrloraTrainableSet {
  /** Dotted names of the selected parameters, in module order. */
  names: string[];
  parameters: Tensor[];
  /** The group each name falls in. */
  groups: Map<string, CtrloraGroup>;
  /** Element counts per group, the selected total and what stays frozen. */
  counts: Record<CtrloraGroup, number> & { trainable: number; frozen: number; total: number };
  /** One line per group, e.g. "lora 25,411,584 | zeroConv 11,522,560 | ...". */
  summary: string;
}

const ZERO_CONV = /^(controlnet_down_blocks\.\d+|controlnet_mid_block)\./;
const TRANSFORMER_NORM = /(^|\.)attentions\.\d+\.(norm|transformer_blocks\.\d+\.norm\d*)\.(weight|bias)$/;
const RESNET_NORM = /(^|\.)resnets\.\d+\.norm[12]\.(weight|bias)$/;

/** Which ctrLoRA group a parameter name belongs to, if any. */
export function ctrloraGroupOf(name: string, options: Pick<CtrloraTrainableOptions, 'adapter' | 'includeResnetNorms'> = {}): CtrloraGroup | null {
  const parts = name.split('.');
  const host = parts.lastIndexOf(LORA_HOST_NAME);
  if (host >= 0 && host + 3 < parts.length && (parts[host + 2] === 'down' || parts[host + 2] === 'up')) {
    return options.adapter === undefined || parts[host + 1] === options.adapter ? 'lora' : null;
  }
  if (ZERO_CONV.test(name)) return 'zeroConv';
  if (TRANSFORMER_NORM.test(name)) return 'transformerNorm';
  if (options.includeResnetNorms && RESNET_NORM.test(name)) return 'resnetNorm';
  return null;
}

export function selectCtrloraTrainable(model: Module, options: CtrloraTrainableOptions = {}): CtrloraTrainableSet {
  const counts = { lora: 0, zeroConv: 0, transformerNorm: 0, resnetNorm: 0, trainable: 0, frozen: 0, total: 0 };
  const names: string[] = [];
  const parameters: Tensor[] = [];
  const groups = new Map<string, CtrloraGroup>();
  for (const [name, p] of model.namedParameters()) {
    const group = ctrloraGroupOf(name, options);
    counts.total += p.size;
    if (group) {
      names.push(name);
      parameters.push(p);
      groups.set(name, group);
      counts[group] += p.size;
      counts.trainable += p.size;
    } else {
      counts.frozen += p.size;
    }
    if (options.apply ?? true) {
      p.requiresGrad = group !== null;
      if (!group) p.grad = null;
    }
  }
  if (counts.lora === 0) {
    throw new ArgumentError(`selectCtrloraTrainable: ${model.typeName} has no LoRA parameters${options.adapter ? ` for adapter '${options.adapter}'` : ''}; add an adapter first (LoraModel.addAdapter)`);
  }
  const fmt = (n: number) => n.toLocaleString('en-US');
  const summary = `lora ${fmt(counts.lora)} | zeroConv ${fmt(counts.zeroConv)} | transformerNorm ${fmt(counts.transformerNorm)}${options.includeResnetNorms ? ` | resnetNorm ${fmt(counts.resnetNorm)}` : ''} | trainable ${fmt(counts.trainable)} of ${fmt(counts.total)} (${((100 * counts.trainable) / Math.max(1, counts.total)).toFixed(2)}%)`;
  return { names, parameters, groups, counts, summary };
}
