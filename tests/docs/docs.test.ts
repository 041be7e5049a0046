/**
 * Every code block in docs/ and README.md, run as written, importing from the package name
 * (`ctrlora-ts`, resolved to the sources through package.json's exports). Per page, in order:
 *
 * - a block after `<!-- file: PATH -->` is written to PATH (relative to the page's scratch
 *   folder) before anything runs: modules, recipes and other files the page's code reads;
 * - every other ```ts / ```js block runs as its own module, in the page's scratch folder as the
 *   working directory, after the code of a `<!-- setup ... -->` comment right above it (the
 *   objects a fragment talks about, hidden from the rendered page like rustdoc's `#` lines);
 *   a file block runs too unless it exports (a module other files import), is a test file
 *   (`*.test.ts`: your test runner runs those), or a ```sh block below runs it;
 * - a ```json block must parse;
 * - in a ```sh block, `npx tsx FILE` of a page file runs it, and the `# ` lines after it are
 *   its expected output. Other shell lines (npm scripts) are not run here.
 *
 * A block must import the framework by its package name, never by a path into the repository
 * (a file block may import another file block of its page by a relative path);
 * only the examples, which are not part of the package, are imported by their path from the
 * repository root (`./examples/...`): such a block runs from a file at the root.
 */
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { getDefaultBackend, setDefaultBackend } from '../../core/index.ts';
import { nativeLabel, nativeSkip } from '../native/suite.ts';

const root = join(import.meta.dirname, '..', '..');
const scratch = join(root, `.docs-run-${process.pid}`);
afterAll(() => rm(scratch, { recursive: true, force: true }));

interface Block {
  lang: string;
  body: string;
  file?: string;
  setup?: string;
  line: number;
}

function blocksOf(md: string): Block[] {
  const out: Block[] = [];
  const re = /(?:<!-- file: (\S+) -->\n[ \t]*|<!-- setup\n([\s\S]*?)-->\n[ \t]*)?```(\w*)\n([\s\S]*?)```/g;
  for (const m of md.matchAll(re)) {
    out.push({
      lang: m[3]!, body: m[4]!, line: md.slice(0, m.index).split('\n').length + (m[1] || m[2] ? 1 : 0) + 1,
      ...(m[1] ? { file: m[1] } : {}), ...(m[2] ? { setup: m[2] } : {}),
    });
  }
  return out;
}

const pages = [
  ...(await readdir(join(root, 'docs'))).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`),
  'README.md',
];

/**
 * Imports a module file with console.log captured; returns what it printed, one string per call.
 * Like a program of its own, a block leaves no default backend behind for the next one.
 */
async function runModule(file: string, cwd: string): Promise<string[]> {
  const printed: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void printed.push(args.map(String).join(' ')));
  const before = process.cwd();
  const backend = getDefaultBackend();
  process.chdir(cwd);
  try {
    await import(`${pathToFileURL(file).href}?run=${Date.now()}`);
  } finally {
    process.chdir(before);
    setDefaultBackend(backend);
    log.mockRestore();
  }
  return printed;
}

describe.each(pages)('%s', (page) => {
  // a block on the native backend runs where its addon is built, as the native suites do
  const note = nativeSkip ? ` (blocks importing ctrlora-ts/backends/native not run: ${nativeLabel})` : '';
  it(`every code block runs as written, importing the framework by its package name${note}`, async () => {
    const md = await readFile(join(root, page), 'utf8');
    const blocks = blocksOf(md);
    const dir = join(scratch, page.replace(/[/.]/g, '_'));
    await mkdir(dir, { recursive: true });
    const code = (b: Block) => ['ts', 'js', 'typescript', 'javascript'].includes(b.lang);
    // a relative import of another file of the same page (a test importing the page's op) is
    // the page's own code, not a path into the repository
    const pageFiles = new Set(blocks.filter((b) => b.file).map((b) => b.file!));
    const ofPage = (b: Block, spec: string) => b.file !== undefined && pageFiles.has(posix.join(posix.dirname(b.file), spec));
    for (const b of blocks.filter(code)) {
      const where = `${page}:${b.line}`;
      const imports = b.body.replace(/from ['"](\.\.?\/[^'"]+)['"]/g, (m, spec: string) => (ofPage(b, spec) ? '' : m));
      expect(imports, `${where}: import the framework by its package name`).not.toMatch(/from ['"](\.\.?\/)+(core|plugins)\/|from ['"]\.\.\/(\.\.\/)*examples\//);
    }
    for (const b of blocks.filter((x) => x.file)) {
      await mkdir(dirname(join(dir, b.file!)), { recursive: true });
      await writeFile(join(dir, b.file!), b.body);
    }
    const written = new Set(blocks.filter((b) => b.file).map((b) => b.file!));
    const runBySh = new Set(blocks.filter((b) => b.lang === 'sh').flatMap((b) => [...b.body.matchAll(/^npx tsx (\S+)$/gm)].map((m) => m[1]!)));
    for (const [i, b] of blocks.entries()) {
      const where = `${page}:${b.line}`;
      if (b.lang === 'json') {
        expect(() => JSON.parse(b.body), where).not.toThrow();
      } else if (code(b)) {
        // a module of the page (a plugin another file imports) is not run on its own
        if (b.file && (/^export /m.test(b.body) || b.file.endsWith('.test.ts') || runBySh.has(b.file))) continue;
        if (nativeSkip && /from 'ctrlora-ts\/backends\/native'/.test(b.body)) continue;
        const name = `block-${String(i).padStart(2, '0')}.${b.lang.startsWith('j') ? 'mjs' : 'ts'}`;
        const atRoot = /from '\.\/examples\//.test(b.body);
        const file = b.file ? join(dir, b.file) : atRoot ? join(root, `.docs-run-${process.pid}-${page.replace(/[/.]/g, '_')}-${name}`) : join(dir, name);
        if (!b.file) await writeFile(file, `${b.setup ?? ''}\n${b.body}`);
        try {
          await runModule(file, dir);
        } catch (e) {
          throw new Error(`${where}: the block failed: ${(e as Error).stack ?? e}`);
        } finally {
          if (atRoot) await rm(file, { force: true });
        }
      } else if (b.lang === 'sh') {
        const lines = b.body.split('\n');
        for (const [j, l] of lines.entries()) {
          const m = /^npx tsx (\S+)$/.exec(l.trim());
          if (!m || !written.has(m[1]!)) continue;
          const expected = [];
          for (let k = j + 1; k < lines.length && lines[k]!.startsWith('# '); k++) expected.push(lines[k]!.slice(2));
          expect(await runModule(join(dir, m[1]!), dir), `${where}: output of ${m[1]}`).toEqual(expected);
        }
      }
    }
  });
});
