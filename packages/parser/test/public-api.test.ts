// The package's public surface: exactly these runtime exports, and errors for programmer mistakes.
import { describe, expect, it } from 'vitest';
import * as parser from '../src/index.js';
import { WoodworkParserError } from '../src/index.js';

describe('public API', () => {
  it('exports exactly these values (types are exported with `export type`)', () => {
    expect(Object.keys(parser).sort()).toEqual([
      'WoodworkParserError',
      'analyze',
      'catalogue',
      'componentKeys',
      'createIncrementalParser',
      'describeSpec',
      'diagnosticCodes',
      'didYouMean',
      'findComponentType',
      'findModuleExports',
      'findTypesNamed',
      'format',
      'formatDiagnostic',
      'formatDuration',
      'loadTopology',
      'moduleLanguageOf',
      'parse',
      'parseDuration',
      'resolveEnv',
      'usageFilter',
    ]);
  });

  it('tells a module\'s language from its extension and suggests close names, for the runtime to share', () => {
    expect(parser.moduleLanguageOf('pipes.ts')).toBe('ts');
    expect(parser.moduleLanguageOf('tools/fns.PY')).toBe('python');
    expect(parser.moduleLanguageOf('notes.txt')).toBeUndefined();
    expect(parser.didYouMean('trimm', ['trim', 'shout'])).toBe('did you mean `trim`?');
    expect(parser.didYouMean('zzz', ['trim'])).toBeUndefined();
  });

  it('throws WoodworkParserError, recognisable across copies of the package, for wrong arguments', () => {
    expect(() => parser.parse(42 as never)).toThrow(WoodworkParserError);
    expect(() => parser.analyze({} as never)).toThrow(/parse\(\)/);
    try {
      parser.parse(undefined as never);
    } catch (error) {
      expect(WoodworkParserError.isInstance(error)).toBe(true);
      expect(error).toMatchObject({ code: 'INVALID_ARGUMENT', name: 'WoodworkParserError' });
    }
    const lookalike = Object.assign(new Error('x'), { [Symbol.for('woodwork.parser.error')]: true });
    expect(WoodworkParserError.isInstance(lookalike)).toBe(true);
    expect(WoodworkParserError.isInstance(new Error('x'))).toBe(false);
  });

  it('gives every diagnostic code a default severity and a title', () => {
    for (const [code, entry] of Object.entries(parser.diagnosticCodes)) {
      expect(code).toMatch(/^WW[123]\d\d$/);
      expect(['error', 'warning']).toContain(entry.severity);
      expect(entry.title.length).toBeGreaterThan(3);
    }
  });
});
