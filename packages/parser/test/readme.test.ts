// The README documents the contract; these checks keep it in step with the code.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { catalogue, diagnosticCodes } from '../src/index.js';

const readme = readFileSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../README.md'), 'utf8');

describe('README', () => {
  it('lists every diagnostic code with its severity, and no other', () => {
    const rows = [...readme.matchAll(/^\| (WW\d{3}) \| (error|warning) \|/gm)].map((match) => `${match[1]} ${match[2]}`);
    const codes = Object.entries(diagnosticCodes).map(([code, entry]) => `${code} ${entry.severity}`);
    expect(rows).toEqual(codes);
  });

  it('names every kind of the catalogue in its table', () => {
    for (const [kind, spec] of Object.entries(catalogue.kinds)) {
      if (spec.status === 'supported') expect(readme).toContain(`| \`${kind}\` |`);
    }
  });
});
