import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { instrumentCatalogue } from '../src/index.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('the README instrument table', () => {
  it('lists every instrument with its type, unit and attributes, and nothing else', () => {
    const section = readme.slice(readme.indexOf('## Instruments'), readme.indexOf('## Traces'));
    const rows = section
      .split('\n')
      .filter((line) => line.startsWith('| `'))
      .map((line) => line.split('|').map((cell) => cell.trim()));
    const documented = rows.map(([, name, kind, unit, attributes]) => ({
      name: name!.replaceAll('`', ''),
      kind,
      unit: unit === '—' ? '' : unit!.replaceAll('`', ''),
      attributes: attributes === '—' ? [] : [...attributes!.matchAll(/`([^`]+)`/g)].map((match) => match[1]).filter((key) => key !== 'input' && key !== 'output'),
    }));
    const catalogue = Object.values(instrumentCatalogue).map((instrument) => ({
      name: instrument.name,
      kind: instrument.kind,
      unit: instrument.unit,
      attributes: [...instrument.attributes],
    }));
    expect(documented).toEqual(catalogue);
  });
});
