// findModuleExports: the names a pipe, hook or tool module exports, read from its text.
import { describe, expect, it } from 'vitest';
import { findModuleExports } from '../src/index.js';

const names = (text: string, language: 'ts' | 'js' | 'python' = 'ts') => [...findModuleExports(text, language).names.keys()].sort();

describe('findModuleExports', () => {
  it('reads the ways a JavaScript or TypeScript module exports a name, each at the name', () => {
    const text = [
      'export function trim() {}',
      'export async function* stream() {}',
      'export function *generate() {}',
      'export const shout = () => 1, unused = 2;',
      'export default class Thing {}',
      'export { a, b as renamed, c as default } from "./x.js";',
      'export * as tools from "./tools.js";',
      '  export let indented = 1;',
      'function local() {}',
      'const notExported = 1;',
    ].join('\n');
    expect(names(text)).toEqual(['Thing', 'a', 'default', 'generate', 'indented', 'renamed', 'shout', 'stream', 'tools', 'trim']);
    const { names: found, complete } = findModuleExports(text, 'ts');
    expect(complete).toBe(true);
    expect(text.slice(found.get('renamed')?.start, found.get('renamed')?.end)).toBe('renamed');
    expect(text.slice(found.get('trim')?.start, found.get('trim')?.end)).toBe('trim');
  });

  it('says when it cannot know every export instead of guessing', () => {
    expect(findModuleExports("export * from './x.js';\n", 'ts').complete).toBe(false);
    expect(findModuleExports('module.exports = { trim };\n', 'js').complete).toBe(false);
    expect(findModuleExports('export const { a, b } = thing;\n', 'ts').complete).toBe(false);
    expect(findModuleExports('from helpers import *\n', 'python').complete).toBe(false);
  });

  it('reads a Python module: top-level def, class, assignments and imports', () => {
    const text = 'import os\nfrom helpers import clean, shout as loud\n\nasync def log(event):\n    def inner(): pass\n\nclass Hook:\n    pass\nLIMIT: int = 3\nif LIMIT == 3: pass\n';
    expect(names(text, 'python')).toEqual(['Hook', 'LIMIT', 'clean', 'log', 'loud']);
  });
});
