/**
 * The documents of a knowledge base's folder: which files count (not `.git`, not `node_modules`,
 * not what a `.gitignore` in the folder or below ignores, not binary files), and their text — PDFs
 * through `unpdf` (PDF.js, maintained by Mozilla; unpdf packages its serverless build, no native
 * code), one page after another, remembering where each page starts.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import ignore, { type Ignore } from 'ignore';

export interface DocumentText {
  readonly text: string;
  /** PDFs: the 1-based line each page starts on, in order. */
  readonly pageStarts?: readonly number[];
}

const ALWAYS_SKIPPED = new Set(['.git', 'node_modules', '.woodwork']);
/** Larger files are left out: they are data, not documents, and would crowd the index. */
export const MAX_DOCUMENT_BYTES = 20 * 1024 * 1024;

/** A `.gitignore` pattern of folder `base` (relative to the root), rewritten to apply from the root. */
function fromRoot(base: string, pattern: string): string {
  if (base === '') return pattern;
  const negated = pattern.startsWith('!');
  const body = negated ? pattern.slice(1) : pattern;
  const anchored = body.startsWith('/') || body.replace(/\/$/, '').includes('/');
  const rewritten = anchored ? `${base}/${body.replace(/^\//, '')}` : `${base}/**/${body}`;
  return negated ? `!${rewritten}` : rewritten;
}

/** Every document file under `root`, relative and `/`-separated, sorted. */
export async function listDocuments(root: string): Promise<string[]> {
  const rules: Ignore = ignore();
  const found: string[] = [];
  async function walk(relative: string): Promise<void> {
    const folder = path.join(root, relative);
    const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
    const gitignore = entries.find((entry) => entry.isFile() && entry.name === '.gitignore');
    if (gitignore) {
      const lines = (await readFile(path.join(folder, '.gitignore'), 'utf8')).split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
      rules.add(lines.map((line) => fromRoot(relative, line)));
    }
    for (const entry of entries) {
      const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        if (ALWAYS_SKIPPED.has(entry.name) || rules.ignores(`${child}/`)) continue;
        await walk(child);
      } else if (entry.isFile() && entry.name !== '.gitignore' && !rules.ignores(child)) {
        found.push(child);
      }
    }
  }
  await walk('');
  return found.sort();
}

export function isPdf(file: string): boolean {
  return file.toLowerCase().endsWith('.pdf');
}

/** The text of a document, or undefined for a binary file (a NUL byte in its first 8 KiB). */
export async function readDocument(file: string, bytes?: Buffer): Promise<DocumentText | undefined> {
  const data = bytes ?? (await readFile(file));
  if (data.length > MAX_DOCUMENT_BYTES) return undefined;
  if (isPdf(file)) {
    const { extractText, getDocumentProxy } = await import('unpdf');
    const pdf = await getDocumentProxy(new Uint8Array(data));
    const { text: pages } = await extractText(pdf, { mergePages: false });
    const pageStarts: number[] = [];
    let line = 1;
    const texts: string[] = [];
    for (const page of pages) {
      pageStarts.push(line);
      const body = page.replace(/\s+$/, '');
      texts.push(body);
      line += body.split('\n').length;
    }
    return { text: texts.join('\n'), pageStarts };
  }
  if (data.subarray(0, 8192).includes(0)) return undefined;
  return { text: data.toString('utf8') };
}

/** The page a line falls on. */
export function pageOf(pageStarts: readonly number[] | undefined, line: number): number | undefined {
  if (!pageStarts) return undefined;
  let page = 1;
  for (let index = 0; index < pageStarts.length; index++) if (pageStarts[index]! <= line) page = index + 1;
  return page;
}
