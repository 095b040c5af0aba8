// formatDiagnostic(): compiler-style text with a code frame and caret, colour only when asked.
import { describe, expect, it } from 'vitest';
import { formatDiagnostic, type Diagnostic } from '../src/index.js';
import { check } from './support.js';

const source = 'mem = memory short_term {}\nagent = claude {\n\tmemory: mme\n}\n';

function first(text: string): Diagnostic {
  const diagnostic = check(text).diagnostics[0];
  if (!diagnostic) throw new Error('expected a diagnostic');
  return diagnostic;
}

describe('formatDiagnostic', () => {
  it('prints file:line:column, severity, code, message, a code frame with a caret, and the hint', () => {
    expect(formatDiagnostic(first(source), { source })).toBe(
      [
        'main.ww:3:10: error WW210: unknown reference `mme`: no component has this name',
        '  3 | \tmemory: mme',
        '    | \t        ^^^',
        '  hint: did you mean `mem`?',
      ].join('\n'),
    );
  });

  it('prints related places as notes', () => {
    const text = 'a = claude {}\na = claude {}\n';
    expect(formatDiagnostic(first(text), { source: text })).toBe(
      [
        'main.ww:2:1: error WW205: duplicate name `a`: a component with this name is already declared',
        '  2 | a = claude {}',
        '    | ^',
        "  hint: rename one of them; references would not know which one they mean",
        '  note: main.ww:1:1: `a` is first declared here',
      ].join('\n'),
    );
  });

  it('prints no frame without the source, and picks the file from a map of sources', () => {
    const diagnostic = first(source);
    expect(formatDiagnostic(diagnostic).split('\n')).toHaveLength(2);
    expect(formatDiagnostic(diagnostic, { source: { 'main.ww': source } }).split('\n')).toHaveLength(4);
    expect(formatDiagnostic(diagnostic, { source: { 'other.ww': source } }).split('\n')).toHaveLength(2);
  });

  it('colours with ANSI escapes only when asked', () => {
    expect(formatDiagnostic(first(source), { source })).not.toContain('\u001b[');
    const coloured = formatDiagnostic(first(source), { source, color: true });
    expect(coloured).toContain('\u001b[31merror WW210\u001b[0m');
    expect(coloured).toContain('\u001b[31m^^^\u001b[0m');
    const warning = formatDiagnostic(first('a = claude { modle: 1 }'), { color: true });
    expect(warning).toContain('\u001b[33mwarning WW207\u001b[0m');
  });

  it('shows paths relative to cwd', () => {
    const diagnostic = { ...first(source), file: '/home/me/project/main.ww' };
    expect(formatDiagnostic(diagnostic, { cwd: '/home/me' })).toMatch(/^project\/main\.ww:3:10: /);
  });

  it('puts the caret after the line for a problem at its end, and cuts long lines around the caret', () => {
    const text = 'a = claude {\n  model:\n}';
    expect(formatDiagnostic(first(text), { source: text }).split('\n').slice(1, 3)).toEqual(['  2 |   model:', '    |         ^']);
    const long = `a = claude { prompt: "${'x'.repeat(300)}", modle: 1 }`;
    const frame = formatDiagnostic(first(long), { source: long }).split('\n');
    expect(frame[1]?.length).toBeLessThan(180);
    expect(frame[2]?.indexOf('^')).toBe((frame[1] ?? '').indexOf('modle'));
  });
});
