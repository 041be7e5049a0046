import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ClipTokenizer, WordTokenizer, bytesToUnicode } from '../../plugins/text-encoder/index.ts';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const clip = () => ClipTokenizer.fromFiles(join(fixtures, 'tiny-clip-vocab.json'), join(fixtures, 'tiny-clip-merges.txt'));
const dir = mkdtempSync(join(tmpdir(), 'tok-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bytesToUnicode', () => {
  it('is a bijection of the 256 bytes onto printable characters, printable ASCII kept', () => {
    const table = bytesToUnicode();
    expect(table.size).toBe(256);
    expect(new Set(table.values()).size).toBe(256);
    expect(table.get(0x41)).toBe('A');
    expect(table.get(0x20)).toBe('Ġ'); // space -> U+0120, as GPT-2/CLIP
    expect(table.get(0x00)).toBe('Ā'); // U+0100
    expect(table.get(0xc3)).toBe('Ã');
    expect(table.get(0xa9)).toBe('©');
  });
});

describe('ClipTokenizer (hand-made vocab + merges)', () => {
  // Worked by hand from the 10 merges in fixtures/tiny-clip-merges.txt:
  //   hello -> h e l l o</w> -(h e)-> he l l o</w> -(l l)-> he ll o</w> -(he ll)-> hell o</w> -(hell o</w>)-> hello</w>
  //   world -> w o r l d</w> -(w o)-> wo r l d</w> -(r l)-> wo rl d</w> -(wo rl)-> worl d</w>   (no merge with d</w>)
  //   !! -> ! !</w> (no merge); it -> it</w>; 's -> ' s</w>; a -> a</w>; cat -> ca t</w> -> cat</w>;
  //   2nd -> "2" (digits split singly) + "nd" -> 2</w> n d</w>
  const text = '  Hello,   WORLD!!\n It\'s a CAT\'s 2nd cat ';
  const tokens = ['hello</w>', ',</w>', 'worl', 'd</w>', '!', '!</w>', 'it</w>', "'", 's</w>', 'a</w>', 'cat</w>', "'", 's</w>', '2</w>', 'n', 'd</w>', 'cat</w>'];
  const ids = [29, 19, 34, 22, 0, 17, 35, 1, 23, 21, 31, 1, 23, 20, 11, 22, 31];

  it('tokenises by CLIP rules: clean + lowercase, the pattern, byte encoding, </w>, merges by rank', () => {
    const tok = clip();
    expect(tok.tokenize(text)).toEqual(tokens);
    expect(tok.encode(text)).toEqual([36, ...ids, 37]);
    expect(tok.bosTokenId).toBe(36);
    expect(tok.eosTokenId).toBe(37);
    expect(tok.padTokenId).toBe(37);
    expect(tok.vocabSize).toBe(38);
  });

  it('maps non-ASCII through UTF-8 bytes, unknown tokens to <|endoftext|>, keeps specials whole', () => {
    const tok = clip();
    expect(tok.tokenize('é')).toEqual(['Ã', '©</w>']); // é = C3 A9
    expect(tok.tokenize('E\u0301')).toEqual(['Ã', '©</w>']); // decomposed É: NFC, then lowercase
    expect(tok.encode('é')).toEqual([36, 37, 37, 37]);
    expect(tok.tokenize('cat<|endoftext|>')).toEqual(['cat</w>', '<|endoftext|>']);
    // she -> s h e</w>: the merge is "h e", not "h e</w>"; 'll is one piece -> ' l l</w> ("l l" is not "l l</w>")
    expect(tok.tokenize("she'll")).toEqual(['s', 'h', 'e</w>', "'", 'l', 'l</w>']);
  });

  it('pads with EOS to 77, truncates keeping BOS first and EOS last, decodes', () => {
    const tok = clip();
    const { inputIds, attentionMask } = tok.encodeBatch([text, 'cat '.repeat(100)]);
    expect(inputIds[0]).toHaveLength(77);
    expect(inputIds[0]!.slice(0, 19)).toEqual([36, ...ids, 37]);
    expect(inputIds[0]!.slice(19).every((i) => i === 37)).toBe(true);
    expect(attentionMask[0]!.reduce((a, b) => a + b, 0)).toBe(19);
    expect(inputIds[1]).toEqual([36, ...Array(75).fill(31), 37]);
    expect(attentionMask[1]!.every((m) => m === 1)).toBe(true);
    const t = tok.toTensor(['hello world', 'cat'], { maxLength: 6 });
    expect(t.shape).toEqual([2, 6]);
    expect(Array.from(t.toArray())).toEqual([36, 29, 34, 22, 37, 37, 36, 31, 37, 37, 37, 37]);
    expect(tok.decode(tok.encode(text))).toBe("hello , world !! it 's a cat 's 2 nd cat");
  });

  it('property: merges never change the characters: tokens concatenate to the byte-encoded pieces, each ending in </w>', () => {
    const tok = clip();
    const table = bytesToUnicode();
    const alphabet = fc.constantFrom(...'helowrdcatisn!,\'2 '.split(''), 'É', '✓', '\t');
    fc.assert(fc.property(fc.array(alphabet, { maxLength: 30 }).map((cs) => cs.join('')), (text) => {
      const pieces = Array.from(text.normalize('NFC').replace(/\s+/g, ' ').trim().toLowerCase().matchAll(/'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/gu), (m) => m[0]);
      const expected = pieces.map((p) => Array.from(new TextEncoder().encode(p), (b) => table.get(b)!).join('') + '</w>').join('');
      const tokens = tok.tokenize(text);
      expect(tokens.join('')).toBe(expected);
      expect(tokens.filter((t) => t.endsWith('</w>'))).toHaveLength(pieces.length);
    }), { numRuns: 200 });
  });

  it('rejects a vocab without the special tokens and malformed merges', () => {
    expect(() => new ClipTokenizer({ a: 0 }, [])).toThrow(/no <\|startoftext\|> token/);
    expect(() => new ClipTokenizer({ '<|startoftext|>': 0, '<|endoftext|>': 1 }, ['a b c'])).toThrow(/merges line "a b c"/);
  });
});

describe('WordTokenizer', () => {
  const corpus = [
    'a 3D dental model of upper teeth, top view, with professional lighting',
    'a 3D dental model of lower teeth, front view, with professional lighting',
    'a 3D dental model of lower teeth, left view',
  ];

  it('builds its vocab by frequency (ties alphabetical) after the specials', () => {
    const tok = WordTokenizer.fromCorpus(corpus);
    // counts: a 3, 3 3, d 3, dental 3, model 3, of 3, teeth 3, view 3, "," 5; lighting 2, lower 2, professional 2, with 2; front, left, top, upper 1
    expect(tok.vocab).toEqual(['<pad>', '<unk>', '<bos>', '<eos>', ',', '3', 'a', 'd', 'dental', 'model', 'of', 'teeth', 'view', 'lighting', 'lower', 'professional', 'with', 'front', 'left', 'top', 'upper']);
    expect(tok.tokenize('A 3D model of Molars!')).toEqual(['a', '3', 'd', 'model', 'of', '<unk>', '<unk>']);
    expect(tok.encode('lower teeth')).toEqual([2, 14, 11, 3]);
    const { inputIds, attentionMask } = tok.encodeBatch(['lower teeth']);
    expect(inputIds[0]).toEqual([2, 14, 11, 3, ...Array(73).fill(0)]);
    expect(attentionMask[0]).toEqual([1, 1, 1, 1, ...Array(73).fill(0)]);
    expect(tok.decode(inputIds[0]!)).toBe('lower teeth');
    const small = WordTokenizer.fromCorpus(corpus, { minFrequency: 3, maxVocab: 5 });
    expect(small.vocab.slice(4)).toEqual([',', '3', 'a', 'd', 'dental']);
  });

  it('saves and loads as JSON', async () => {
    const tok = WordTokenizer.fromCorpus(corpus, { contextLength: 16 });
    const file = join(dir, 'tok.json');
    await tok.save(file);
    const back = WordTokenizer.load(file);
    expect(back.vocab).toEqual(tok.vocab);
    expect(back.contextLength).toBe(16);
    expect(back.encodeBatch(corpus)).toEqual(tok.encodeBatch(corpus));
    expect(() => WordTokenizer.fromJSON({ type: 'bpe' })).toThrow(/expected \{type: "word-level"/);
  });

  it('property: every batch row is BOS, known ids, EOS, padding; length = context', () => {
    const tok = WordTokenizer.fromCorpus(corpus, { contextLength: 12 });
    fc.assert(fc.property(fc.array(fc.constantFrom('dental', 'teeth', 'molar', ',', '3', 'x'), { maxLength: 20 }), (words) => {
      const { inputIds, attentionMask } = tok.encodeBatch([words.join(' ')]);
      const row = inputIds[0]!;
      const n = Math.min(words.length, 10);
      expect(row).toHaveLength(12);
      expect(row[0]).toBe(tok.bosTokenId);
      expect(row[n + 1]).toBe(tok.eosTokenId);
      expect(row.slice(n + 2).every((i) => i === tok.padTokenId)).toBe(true);
      expect(attentionMask[0]!.reduce((a, b) => a + b, 0)).toBe(n + 2);
      expect(tok.decode(row).split(' ').filter(Boolean)).toEqual(words.slice(0, 10).map((w) => (w === 'molar' || w === 'x' ? '<unk>' : w)));
    }), { numRuns: 100 });
  });
});
