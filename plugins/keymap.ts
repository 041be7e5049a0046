/**
 * State-dict key map between diffusers' names (what our models use) and the LDM names of
 * CompVis' Stable Diffusion checkpoints, ControlNet 1.x and CtrLoRA (`model.diffusion_model.*`,
 * `control_model.*`, `first_stage_model.*`, `cond_stage_model.transformer.*`).
 *
 * UNet / ControlNet (L = layersPerBlock; SD1.5: L = 2):
 *   conv_in                               <-> input_blocks.0.0
 *   time_embedding.linear_1 / linear_2    <-> time_embed.0 / time_embed.2
 *   down_blocks.i.resnets.j               <-> input_blocks.(1 + (L+1) i + j).0
 *   down_blocks.i.attentions.j            <-> input_blocks.(1 + (L+1) i + j).1
 *   down_blocks.i.downsamplers.0.conv     <-> input_blocks.((L+1)(i+1)).0.op
 *   mid_block.resnets.0 / attentions.0 / resnets.1 <-> middle_block.0 / 1 / 2
 *   up_blocks.i.resnets.j                 <-> output_blocks.((L+1) i + j).0
 *   up_blocks.i.attentions.j              <-> output_blocks.((L+1) i + j).1
 *   up_blocks.i.upsamplers.0.conv         <-> output_blocks.((L+1) i + L).(2 with attention, else 1).conv
 *   conv_norm_out / conv_out              <-> out.0 / out.2
 *   in a resnet: norm1 in_layers.0, conv1 in_layers.2, time_emb_proj emb_layers.1,
 *                norm2 out_layers.0, conv2 out_layers.3, conv_shortcut skip_connection
 *   transformer blocks keep their names (norm, proj_in, transformer_blocks.0.attn1.to_q, ...)
 *   ControlNet: controlnet_cond_embedding.conv_in / blocks.k / conv_out <-> input_hint_block.0 / 2(k+1) / 2(2(levels-1)+1)
 *               controlnet_down_blocks.i <-> zero_convs.i.0, controlnet_mid_block <-> middle_block_out.0
 * VAE (n = number of levels; SD1.5: 4):
 *   encoder.down_blocks.i.resnets.j <-> encoder.down.i.block.j; ...downsamplers.0.conv <-> encoder.down.i.downsample.conv
 *   decoder.up_blocks.i.resnets.j   <-> decoder.up.(n-1-i).block.j; ...upsamplers.0.conv <-> decoder.up.(n-1-i).upsample.conv
 *   mid_block.resnets.0 / attentions.0 / resnets.1 <-> mid.block_1 / mid.attn_1 / mid.block_2
 *   attention: group_norm norm, to_q q, to_k k, to_v v, to_out.0 proj_out (LDM: 1x1 convs [C, C, 1, 1])
 *   conv_shortcut <-> nin_shortcut, conv_norm_out <-> norm_out
 * Text encoder (CLIP): text_model.* <-> cond_stage_model.transformer.text_model.*
 */
import { ArgumentError, type Tensor } from '../core/index.ts';
import { UNET_SD15, type UNetConfig } from './unet/config.ts';
import { VAE_SD15, type VaeConfig } from './vae/config.ts';

export type ModelKind = 'unet' | 'controlnet' | 'vae' | 'textEncoder';

/** The prefix each model's keys carry in an LDM/CtrLoRA checkpoint. */
export const LDM_PREFIXES: Readonly<Record<ModelKind, string>> = Object.freeze({
  unet: 'model.diffusion_model.',
  controlnet: 'control_model.',
  vae: 'first_stage_model.',
  textEncoder: 'cond_stage_model.transformer.',
});

export interface KeyMapOptions {
  /** UNet/ControlNet structure (default SD1.5). */
  unet?: Pick<UNetConfig, 'layersPerBlock' | 'upBlockTypes' | 'blockOutChannels'>;
  /** VAE structure (default SD1.5). */
  vae?: Pick<VaeConfig, 'blockOutChannels'>;
  /** Levels of the ControlNet condition embedding (SD1.5: 4, i.e. 16/32/96/256). */
  condEmbeddingLevels?: number;
  /** Add (diffusers -> LDM) or expect (LDM -> diffusers) the LDM prefix of the model. Default true. */
  prefix?: boolean;
}

const RESNET_TO_LDM: Record<string, string> = {
  norm1: 'in_layers.0', conv1: 'in_layers.2', time_emb_proj: 'emb_layers.1', norm2: 'out_layers.0', conv2: 'out_layers.3', conv_shortcut: 'skip_connection',
};
const RESNET_FROM_LDM = invert(RESNET_TO_LDM);
const VAE_ATTN_TO_LDM: Record<string, string> = { group_norm: 'norm', to_q: 'q', to_k: 'k', to_v: 'v', 'to_out.0': 'proj_out' };
const VAE_ATTN_FROM_LDM = invert(VAE_ATTN_TO_LDM);

function invert(m: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [v, k]));
}

function unknown(kind: ModelKind, direction: string, key: string): never {
  throw new ArgumentError(`keymap(${kind}, ${direction}): no rule maps '${key}'`);
}

/** Renames the head of a resnet-local key (`norm1.weight` -> `in_layers.0.weight`). */
function mapHead(rest: string, table: Record<string, string>, kind: ModelKind, direction: string, full: string): string {
  for (const [from, to] of Object.entries(table)) {
    if (rest.startsWith(`${from}.`)) return `${to}${rest.slice(from.length)}`;
  }
  return unknown(kind, direction, full);
}

function hasUpAttention(o: KeyMapOptions, i: number): boolean {
  return (o.unet ?? UNET_SD15).upBlockTypes[i] === 'CrossAttnUpBlock2D';
}

/** UNet and ControlNet keys, diffusers -> LDM (no prefix). */
function unetToLdm(key: string, kind: ModelKind, o: KeyMapOptions): string {
  const L = (o.unet ?? UNET_SD15).layersPerBlock;
  const d = 'diffusers->ldm';
  let m: RegExpMatchArray | null;
  if ((m = key.match(/^conv_in\.(.+)$/))) return `input_blocks.0.0.${m[1]}`;
  if ((m = key.match(/^time_embedding\.linear_([12])\.(.+)$/))) return `time_embed.${m[1] === '1' ? 0 : 2}.${m[2]}`;
  if ((m = key.match(/^down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/))) return `input_blocks.${1 + (L + 1) * +m[1]! + +m[2]!}.0.${mapHead(m[3]!, RESNET_TO_LDM, kind, d, key)}`;
  if ((m = key.match(/^down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)$/))) return `input_blocks.${1 + (L + 1) * +m[1]! + +m[2]!}.1.${m[3]}`;
  if ((m = key.match(/^down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)$/))) return `input_blocks.${(L + 1) * (+m[1]! + 1)}.0.op.${m[2]}`;
  if ((m = key.match(/^mid_block\.resnets\.([01])\.(.+)$/))) return `middle_block.${m[1] === '0' ? 0 : 2}.${mapHead(m[2]!, RESNET_TO_LDM, kind, d, key)}`;
  if ((m = key.match(/^mid_block\.attentions\.0\.(.+)$/))) return `middle_block.1.${m[1]}`;
  if (kind === 'unet') {
    if ((m = key.match(/^up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/))) return `output_blocks.${(L + 1) * +m[1]! + +m[2]!}.0.${mapHead(m[3]!, RESNET_TO_LDM, kind, d, key)}`;
    if ((m = key.match(/^up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)$/))) return `output_blocks.${(L + 1) * +m[1]! + +m[2]!}.1.${m[3]}`;
    if ((m = key.match(/^up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)$/))) return `output_blocks.${(L + 1) * +m[1]! + L}.${hasUpAttention(o, +m[1]!) ? 2 : 1}.conv.${m[2]}`;
    if ((m = key.match(/^conv_norm_out\.(.+)$/))) return `out.0.${m[1]}`;
    if ((m = key.match(/^conv_out\.(.+)$/))) return `out.2.${m[1]}`;
  } else {
    const levels = o.condEmbeddingLevels ?? 4;
    if ((m = key.match(/^controlnet_cond_embedding\.conv_in\.(.+)$/))) return `input_hint_block.0.${m[1]}`;
    if ((m = key.match(/^controlnet_cond_embedding\.blocks\.(\d+)\.(.+)$/))) return `input_hint_block.${2 * (+m[1]! + 1)}.${m[2]}`;
    if ((m = key.match(/^controlnet_cond_embedding\.conv_out\.(.+)$/))) return `input_hint_block.${2 * (2 * (levels - 1) + 1)}.${m[1]}`;
    if ((m = key.match(/^controlnet_down_blocks\.(\d+)\.(.+)$/))) return `zero_convs.${m[1]}.0.${m[2]}`;
    if ((m = key.match(/^controlnet_mid_block\.(.+)$/))) return `middle_block_out.0.${m[1]}`;
  }
  return unknown(kind, d, key);
}

/** UNet and ControlNet keys, LDM (no prefix) -> diffusers. */
function unetFromLdm(key: string, kind: ModelKind, o: KeyMapOptions): string {
  const L = (o.unet ?? UNET_SD15).layersPerBlock;
  const d = 'ldm->diffusers';
  let m: RegExpMatchArray | null;
  if ((m = key.match(/^input_blocks\.0\.0\.(.+)$/))) return `conv_in.${m[1]}`;
  if ((m = key.match(/^time_embed\.([02])\.(.+)$/))) return `time_embedding.linear_${m[1] === '0' ? 1 : 2}.${m[2]}`;
  if ((m = key.match(/^input_blocks\.(\d+)\.([01])\.(.+)$/))) {
    const k = +m[1]! - 1;
    const [i, j] = [Math.floor(k / (L + 1)), k % (L + 1)];
    if (j === L) {
      const op = m[3]!.match(/^op\.(.+)$/);
      if (m[2] !== '0' || !op) return unknown(kind, d, key);
      return `down_blocks.${i}.downsamplers.0.conv.${op[1]}`;
    }
    return m[2] === '0' ? `down_blocks.${i}.resnets.${j}.${mapHead(m[3]!, RESNET_FROM_LDM, kind, d, key)}` : `down_blocks.${i}.attentions.${j}.${m[3]}`;
  }
  if ((m = key.match(/^middle_block\.([012])\.(.+)$/))) {
    if (m[1] === '1') return `mid_block.attentions.0.${m[2]}`;
    return `mid_block.resnets.${m[1] === '0' ? 0 : 1}.${mapHead(m[2]!, RESNET_FROM_LDM, kind, d, key)}`;
  }
  if (kind === 'unet') {
    if ((m = key.match(/^output_blocks\.(\d+)\.([012])\.(.+)$/))) {
      const [i, j] = [Math.floor(+m[1]! / (L + 1)), +m[1]! % (L + 1)];
      const attn = hasUpAttention(o, i);
      const up = m[3]!.match(/^conv\.(.+)$/);
      if (m[2] === '0') return `up_blocks.${i}.resnets.${j}.${mapHead(m[3]!, RESNET_FROM_LDM, kind, d, key)}`;
      if (m[2] === '1' && attn) return `up_blocks.${i}.attentions.${j}.${m[3]}`;
      if (up && j === L && m[2] === (attn ? '2' : '1')) return `up_blocks.${i}.upsamplers.0.conv.${up[1]}`;
      return unknown(kind, d, key);
    }
    if ((m = key.match(/^out\.([02])\.(.+)$/))) return `${m[1] === '0' ? 'conv_norm_out' : 'conv_out'}.${m[2]}`;
  } else {
    const levels = o.condEmbeddingLevels ?? 4;
    const last = 2 * (2 * (levels - 1) + 1);
    if ((m = key.match(/^input_hint_block\.(\d+)\.(.+)$/))) {
      const idx = +m[1]!;
      if (idx % 2) return unknown(kind, d, key);
      if (idx === 0) return `controlnet_cond_embedding.conv_in.${m[2]}`;
      if (idx === last) return `controlnet_cond_embedding.conv_out.${m[2]}`;
      if (idx < last) return `controlnet_cond_embedding.blocks.${idx / 2 - 1}.${m[2]}`;
      return unknown(kind, d, key);
    }
    if ((m = key.match(/^zero_convs\.(\d+)\.0\.(.+)$/))) return `controlnet_down_blocks.${m[1]}.${m[2]}`;
    if ((m = key.match(/^middle_block_out\.0\.(.+)$/))) return `controlnet_mid_block.${m[1]}`;
  }
  return unknown(kind, d, key);
}

function vaeMidToLdm(rest: string, full: string): string {
  const d = 'diffusers->ldm';
  let m: RegExpMatchArray | null;
  if ((m = rest.match(/^resnets\.([01])\.(.+)$/))) return `mid.block_${+m[1]! + 1}.${vaeResnetToLdm(m[2]!)}`;
  if ((m = rest.match(/^attentions\.0\.(.+)$/))) return `mid.attn_1.${mapHead(m[1]!, VAE_ATTN_TO_LDM, 'vae', d, full)}`;
  return unknown('vae', d, full);
}
const vaeResnetToLdm = (rest: string) => rest.replace(/^conv_shortcut\./, 'nin_shortcut.');
const vaeResnetFromLdm = (rest: string) => rest.replace(/^nin_shortcut\./, 'conv_shortcut.');

function vaeToLdm(key: string, o: KeyMapOptions): string {
  const n = (o.vae ?? VAE_SD15).blockOutChannels.length;
  const d = 'diffusers->ldm';
  let m: RegExpMatchArray | null;
  if (/^(quant_conv|post_quant_conv)\./.test(key)) return key;
  if ((m = key.match(/^(encoder|decoder)\.(conv_in|conv_out)\.(.+)$/))) return key;
  if ((m = key.match(/^(encoder|decoder)\.conv_norm_out\.(.+)$/))) return `${m[1]}.norm_out.${m[2]}`;
  if ((m = key.match(/^(encoder|decoder)\.mid_block\.(.+)$/))) return `${m[1]}.${vaeMidToLdm(m[2]!, key)}`;
  if ((m = key.match(/^encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/))) return `encoder.down.${m[1]}.block.${m[2]}.${vaeResnetToLdm(m[3]!)}`;
  if ((m = key.match(/^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)$/))) return `encoder.down.${m[1]}.downsample.conv.${m[2]}`;
  if ((m = key.match(/^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/))) return `decoder.up.${n - 1 - +m[1]!}.block.${m[2]}.${vaeResnetToLdm(m[3]!)}`;
  if ((m = key.match(/^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)$/))) return `decoder.up.${n - 1 - +m[1]!}.upsample.conv.${m[2]}`;
  return unknown('vae', d, key);
}

function vaeFromLdm(key: string, o: KeyMapOptions): string {
  const n = (o.vae ?? VAE_SD15).blockOutChannels.length;
  const d = 'ldm->diffusers';
  let m: RegExpMatchArray | null;
  if (/^(quant_conv|post_quant_conv)\./.test(key)) return key;
  if (/^(encoder|decoder)\.(conv_in|conv_out)\./.test(key)) return key;
  if ((m = key.match(/^(encoder|decoder)\.norm_out\.(.+)$/))) return `${m[1]}.conv_norm_out.${m[2]}`;
  if ((m = key.match(/^(encoder|decoder)\.mid\.block_([12])\.(.+)$/))) return `${m[1]}.mid_block.resnets.${+m[2]! - 1}.${vaeResnetFromLdm(m[3]!)}`;
  if ((m = key.match(/^(encoder|decoder)\.mid\.attn_1\.(.+)$/))) return `${m[1]}.mid_block.attentions.0.${mapHead(m[2]!, VAE_ATTN_FROM_LDM, 'vae', d, key)}`;
  if ((m = key.match(/^encoder\.down\.(\d+)\.block\.(\d+)\.(.+)$/))) return `encoder.down_blocks.${m[1]}.resnets.${m[2]}.${vaeResnetFromLdm(m[3]!)}`;
  if ((m = key.match(/^encoder\.down\.(\d+)\.downsample\.conv\.(.+)$/))) return `encoder.down_blocks.${m[1]}.downsamplers.0.conv.${m[2]}`;
  if ((m = key.match(/^decoder\.up\.(\d+)\.block\.(\d+)\.(.+)$/))) return `decoder.up_blocks.${n - 1 - +m[1]!}.resnets.${m[2]}.${vaeResnetFromLdm(m[3]!)}`;
  if ((m = key.match(/^decoder\.up\.(\d+)\.upsample\.conv\.(.+)$/))) return `decoder.up_blocks.${n - 1 - +m[1]!}.upsamplers.0.conv.${m[2]}`;
  return unknown('vae', d, key);
}

/** A diffusers key of `kind` -> its LDM/CtrLoRA name (with the model's prefix unless prefix: false). */
export function diffusersToLdmKey(kind: ModelKind, key: string, options: KeyMapOptions = {}): string {
  const body = kind === 'vae' ? vaeToLdm(key, options) : kind === 'textEncoder' ? key : unetToLdm(key, kind, options);
  return (options.prefix ?? true) ? LDM_PREFIXES[kind] + body : body;
}

/** An LDM/CtrLoRA key of `kind` (with its prefix unless prefix: false) -> the diffusers name. */
export function ldmToDiffusersKey(kind: ModelKind, key: string, options: KeyMapOptions = {}): string {
  let body = key;
  if (options.prefix ?? true) {
    const p = LDM_PREFIXES[kind];
    if (!key.startsWith(p)) throw new ArgumentError(`keymap(${kind}, ldm->diffusers): '${key}' does not start with '${p}'`);
    body = key.slice(p.length);
  }
  return kind === 'vae' ? vaeFromLdm(body, options) : kind === 'textEncoder' ? body : unetFromLdm(body, kind, options);
}

const LEGACY_VAE_ATTENTION: Record<string, string> = { query: 'to_q', key: 'to_k', value: 'to_v', proj_attn: 'to_out.0' };

/**
 * diffusers before 0.14 named the VAE attention projections query/key/value/proj_attn; those
 * files still circulate. Maps such a key to today's name (other keys pass unchanged).
 */
export function upgradeLegacyVaeKey(key: string): string {
  return key.replace(/(mid_block\.attentions\.0\.)(query|key|value|proj_attn)\./, (_, head: string, name: string) => `${head}${LEGACY_VAE_ATTENTION[name]}.`);
}

/** LDM stores the VAE attention projections as 1x1 convs: [C, C, 1, 1] there, [C, C] here. */
function isVaeAttentionWeight(diffusersKey: string): boolean {
  return /mid_block\.attentions\.0\.(to_q|to_k|to_v|to_out\.0)\.weight$/.test(diffusersKey);
}

/** Renames (and for the VAE attention reshapes) a whole state dict from LDM to diffusers names. */
export function ldmToDiffusersStateDict(kind: ModelKind, state: ReadonlyMap<string, Tensor>, options: KeyMapOptions = {}): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [key, t] of state) {
    const name = ldmToDiffusersKey(kind, key, options);
    out.set(name, kind === 'vae' && isVaeAttentionWeight(name) && t.ndim === 4 ? t.reshape([t.shape[0]!, t.shape[1]!]) : t);
  }
  return out;
}

/** Renames (and for the VAE attention reshapes) a whole state dict from diffusers to LDM names. */
export function diffusersToLdmStateDict(kind: ModelKind, state: ReadonlyMap<string, Tensor>, options: KeyMapOptions = {}): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [key, t] of state) {
    out.set(diffusersToLdmKey(kind, key, options), kind === 'vae' && isVaeAttentionWeight(key) && t.ndim === 2 ? t.reshape([t.shape[0]!, t.shape[1]!, 1, 1]) : t);
  }
  return out;
}

/**
 * Splits a whole LDM/CtrLoRA checkpoint by prefix into diffusers-named state dicts per model;
 * keys under no known prefix (EMA copies, `alphas_cumprod` buffers...) come back in `other`.
 */
export function splitLdmCheckpoint(state: ReadonlyMap<string, Tensor>, options: KeyMapOptions = {}): Record<ModelKind, Map<string, Tensor>> & { other: Map<string, Tensor> } {
  const groups: Record<ModelKind, Map<string, Tensor>> = { unet: new Map(), controlnet: new Map(), vae: new Map(), textEncoder: new Map() };
  const other = new Map<string, Tensor>();
  for (const [key, t] of state) {
    const kind = (Object.keys(LDM_PREFIXES) as ModelKind[]).find((k) => key.startsWith(LDM_PREFIXES[k]));
    if (kind) groups[kind].set(key, t);
    else other.set(key, t);
  }
  return {
    unet: ldmToDiffusersStateDict('unet', groups.unet, options),
    controlnet: ldmToDiffusersStateDict('controlnet', groups.controlnet, options),
    vae: ldmToDiffusersStateDict('vae', groups.vae, options),
    textEncoder: ldmToDiffusersStateDict('textEncoder', groups.textEncoder, options),
    other,
  };
}
