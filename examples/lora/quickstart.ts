/**
 * LoRA in five steps on a small model: add an adapter, train only it, merge for inference,
 * save it alone, load it into a fresh copy of the base. Run: npx tsx examples/lora/quickstart.ts
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GELU, Linear, MultiheadAttention, Module, Sequential, type Tensor, copyInto, mseLoss, noGrad, randn } from '../../core/index.ts';
import { LoraModel } from '../../plugins/lora/index.ts';

class TinyBlock extends Module {
  readonly attn1 = this.registerModule('attn1', new MultiheadAttention(16, 2, { seed: 1 }));
  readonly ff = this.registerModule('ff', new Sequential(new Linear(16, 32, { seed: 2 }), new GELU(), new Linear(32, 16, { seed: 3 })));
  forward(x: Tensor): Tensor {
    return this.ff.forward(this.attn1.forward(x));
  }
}

const model = new TinyBlock();
const lora = new LoraModel(model);

// 1. An adapter on the attention projections and the feed-forward layers, CtrLoRA-style (scale 1).
const wrapped = lora.addAdapter('style', { rank: 4, targetModules: ['to_q', 'to_k', 'to_v', 'to_out.0', 'ff.0', 'ff.2'], seed: 0 });
console.log('wrapped:', wrapped.join(', '));

// 2. Train only the adapter (plain SGD here; the framework's AdamW works the same way).
model.freeze();
const params = lora.unfreezeAdapter('style');
const x = randn([4, 8, 16], { seed: 10 });
// a target the adapter can reach: the base's own output, shifted along a few directions
const target = noGrad(() => model.forward(x).add(randn([1, 1, 16], { seed: 11 }).mul(0.5)));
let first = 0;
let last = 0;
for (let step = 0; step < 60; step++) {
  model.zeroGrad();
  const loss = mseLoss(model.forward(x), target);
  loss.backward();
  noGrad(() => {
    for (const p of params) copyInto(p, p.sub(p.grad!.mul(0.5)));
  });
  if (step === 0) first = loss.item();
  last = loss.item();
}
console.log(`loss ${first.toFixed(4)} -> ${last.toFixed(4)}`);

// 3. Merge for inference: the same outputs, no extra matmuls.
const before = model.forward(x);
lora.merge();
const merged = model.forward(x);
console.log('max |merged - unmerged|:', Math.max(...Array.from(merged.sub(before).abs().toArray())));
lora.unmerge();

// 4. Save the adapter alone, with CtrLoRA's key names.
const file = join(mkdtempSync(join(tmpdir(), 'lora-')), 'style.safetensors');
await lora.saveAdapter(file, 'style', { naming: 'ctrlora' });
console.log('saved keys:', [...lora.adapterStateDict('style', { naming: 'ctrlora' }).keys()].slice(0, 2).join(', '), '...');

// 5. Load it into a fresh base: the adapter is rebuilt from the file's metadata.
const fresh = new TinyBlock();
await new LoraModel(fresh).loadAdapter(file);
console.log('reloaded output equal:', Array.from(fresh.forward(x).toArray()).every((v, i) => v === before.toArray()[i]));
