/** core/plugins/any-container.ts: one registration call for both container flavours. */
import 'reflect-metadata';
import { fileURLToPath } from 'node:url';
import { container as tsyringeRoot } from 'tsyringe';
import { describe, expect, it } from 'vitest';
import { type AnyContainer, TOKENS, checkOptionKeys, createRunContainer, isProvided, provide, resolveEvery, resolveNamed, resolveOne, resolveOptional } from '../../core/index.ts';
import { ClipTokenizer, WordTokenizer, tokenizerFromOptions } from '../../plugins/text-encoder/index.ts';

const extractor = (name: string) => ({ name, extract: () => ({ width: 1, height: 1, channels: 1, data: new Float32Array(1) }) });

describe('provide / resolve* on either container', () => {
  const flavours: [string, () => AnyContainer][] = [['PluginContainer', () => createRunContainer()], ['tsyringe', () => tsyringeRoot.createChildContainer()]];
  for (const [label, make] of flavours) {
    it(`${label}: builds once on first resolve, lists in order, finds by name`, () => {
      const c = make();
      expect(isProvided(c, TOKENS.ConditionExtractor)).toBe(false);
      expect(resolveEvery(c, TOKENS.ConditionExtractor)).toEqual([]);
      expect(resolveOptional(c, TOKENS.ConditionExtractor)).toBeUndefined();
      expect(() => resolveOne(c, TOKENS.ConditionExtractor)).toThrow(/no ConditionExtractor plugin is registered/);
      let built = 0;
      provide(c, TOKENS.ConditionExtractor, 'a', () => (built++, extractor('a')));
      provide(c, TOKENS.ConditionExtractor, 'b', () => extractor('b'));
      expect(built).toBe(0);
      const b = resolveOne(c, TOKENS.ConditionExtractor);
      expect(b.name).toBe('b'); // the last registered
      expect(resolveOne(c, TOKENS.ConditionExtractor)).toBe(b);
      expect(resolveEvery(c, TOKENS.ConditionExtractor).map((e) => e.name)).toEqual(['a', 'b']);
      expect(resolveNamed(c, TOKENS.ConditionExtractor, 'a')).toBe(resolveNamed(c, TOKENS.ConditionExtractor, 'a'));
      expect(built).toBe(1);
      expect(() => resolveNamed(c, TOKENS.ConditionExtractor, 'z')).toThrow('unknown ConditionExtractor "z"; registered: a, b');
    });
  }

  it('checkOptionKeys names the unknown keys and the known ones', () => {
    expect(() => checkOptionKeys('plugins/x', { seed: 1, sed: 2 }, ['seed'])).toThrow('plugins/x: unknown option "sed"; it takes "seed"');
    expect(() => checkOptionKeys('plugins/x', { seed: 1 }, ['seed'])).not.toThrow();
  });
});

describe('tokenizerFromOptions', () => {
  const fixtures = fileURLToPath(new URL('../text-encoder/fixtures/', import.meta.url));
  it('reads each kind, paths relative to baseDir', () => {
    const clip = tokenizerFromOptions({ kind: 'clip', vocab: 'tiny-clip-vocab.json', merges: 'tiny-clip-merges.txt' }, fixtures);
    expect(clip).toBeInstanceOf(ClipTokenizer);
    const word = tokenizerFromOptions({ kind: 'word', corpus: ['a lit molar', 'a molar'], contextLength: 6 });
    expect(word).toBeInstanceOf(WordTokenizer);
    expect([word.vocabSize, word.contextLength]).toEqual([7, 6]);
    const saved = tokenizerFromOptions({ kind: 'word', path: 'tokenizer.json' }, fileURLToPath(new URL('../fixtures/tiny-diffusion/', import.meta.url)));
    expect(saved.vocabSize).toBe(9);
    expect(() => tokenizerFromOptions({ kind: 'bpe' } as never)).toThrow(/tokenizer options: need \{ kind: 'word', path \}.*got \{"kind":"bpe"\}/);
  });
});
