/**
 * Prompts -> token ids -> CLIP hidden states, with the word-level tokenizer the dental example
 * uses (no hub here). With SD1.5's real files, swap in:
 *   const tok = ClipTokenizer.fromFiles('tokenizer/vocab.json', 'tokenizer/merges.txt');
 *   const enc = new ClipTextModel('sd15');
 *   enc.loadStateDict(clipTextStateDictFrom((await loadSafetensors('text_encoder/model.safetensors')).tensors));
 * Run: npx tsx examples/text-encoder/quickstart.ts
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noGrad } from '../../core/index.ts';
import { ClipTextModel, WordTokenizer } from '../../plugins/text-encoder/index.ts';

const prompts = ['upper', 'lower'].flatMap((jaw) => ['top', 'front', 'bottom', 'left', 'right'].map((view) =>
  `a 3D dental model of ${jaw} teeth, ${view} view, with professional lighting, high quality, detailed, dental photography, clinical lighting setup`));

const tokenizer = WordTokenizer.fromCorpus(prompts);
console.log(`vocab: ${tokenizer.vocabSize} entries (4 specials + ${tokenizer.vocabSize - 4} words)`);
console.log('tokens:', tokenizer.tokenize(prompts[0]!).slice(0, 12).join(' '), '...');

const file = join(mkdtempSync(join(tmpdir(), 'tok-')), 'tokenizer.json');
await tokenizer.save(file);
const reloaded = WordTokenizer.load(file);

const encoder = new ClipTextModel('tiny', { vocabSize: reloaded.vocabSize }, { seed: 0 });
const ids = reloaded.toTensor([prompts[0]!, '']); // '' is the unconditional prompt for guidance
const hidden = noGrad(() => encoder.forward(ids));
console.log('input ids', ids.shape, '-> last_hidden_state', hidden.shape, `(${encoder.numParameters().total.toLocaleString('en-US')} parameters)`);
