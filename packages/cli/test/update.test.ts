import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { keepLayout } from '../src/testing/update.js';

/** What `--update` does to a document: an edit, then `yaml`'s printing, then the author's spacing put back. */
function edit(source: string, change: (document: ReturnType<typeof parseDocument>) => void): string {
  const document = parseDocument(source);
  change(document);
  return keepLayout(source, document.toString({ lineWidth: 0 }), document);
}

describe('keepLayout (woodwork test --update)', () => {
  it('keeps the spacing of flow lists and maps on the lines the edit did not touch', () => {
    const source = 'tools:\n  add: {output: 5}\nturns:\n  - input: hi\n    model:\n      - tool_calls: [{ name: add, arguments: { a: 2 } }]\n    expect:\n      reply: old\n';
    expect(edit(source, (document) => document.setIn(['turns', 0, 'expect', 'reply'], 'new'))).toBe(source.replace('reply: old', 'reply: new'));
  });

  it('does not put back a line whose change is only a space, when that space is the change', () => {
    const source = 'turns:\n  - input: hi\n    model: [{ text: ["a", "b"] }]\n    expect:\n      reply: Itis 5.\n';
    const written = edit(source, (document) => document.setIn(['turns', 0, 'expect', 'reply'], 'It is 5.'));
    expect(written).toBe(source.replace('reply: Itis 5.', 'reply: It is 5.'));
  });
});
