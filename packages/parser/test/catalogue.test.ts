// The catalogue is data the runtime registers against; these checks keep it consistent.
import { describe, expect, it } from 'vitest';
import { catalogue, componentKeys, findComponentType, findTypesNamed, type KeySpec, type ValueSpec } from '../src/index.js';
import { check } from './support.js';

/** A value that satisfies `spec`, written in .ww syntax, for required keys. */
function sample(spec: ValueSpec, referenceTo: (kinds: readonly string[] | undefined) => string): string {
  switch (spec.type) {
    case 'string':
    case 'any':
      return '"x"';
    case 'path':
      return '"file.ts"';
    case 'number':
      return String(spec.min ?? 1);
    case 'boolean':
      return 'true';
    case 'duration':
      return '"1s"';
    case 'enum':
      return `"${spec.values[0]}"`;
    case 'reference':
      return referenceTo(spec.kinds);
    case 'list':
      return '[]';
    case 'map':
    case 'record':
      return '{}';
    case 'oneOf':
      return sample(spec.options[0] as ValueSpec, referenceTo);
    case 'pipe':
    case 'hook':
      return '"file.ts::f"';
  }
}

describe('the catalogue', () => {
  it('has the kinds and types of the spec', () => {
    const pairs = Object.entries(catalogue.kinds).flatMap(([kind, spec]) =>
      Object.entries(spec.types).filter(([, type]) => type.status === 'supported').map(([type]) => `${kind} ${type}`),
    );
    expect(pairs).toEqual(
      expect.arrayContaining([
        'llm openai',
        'llm claude',
        'llm ollama',
        'llm openai_compatible',
        'input command_line',
        'input api',
        'output console',
        'output api',
        'memory short_term',
        'bus memory',
        'bus redis',
        'bus nats',
        'bus kafka',
        'vm server',
        'transform echo',
        'transform uppercase',
      ]),
    );
    // Which pairs are `supported` and which `planned` (part of the language, not implemented yet)
    // moves as implementations land: @woodwork/ai's registration test holds it to the registries.
    const statuses = new Set(Object.values(catalogue.kinds).flatMap((spec) => [spec.status, ...Object.values(spec.types).map((type) => type.status)]));
    expect([...statuses].every((status) => ['supported', 'planned', 'unsupported'].includes(status))).toBe(true);
    expect(findComponentType('llm', 'anthropic')?.type).toBe('claude');
    expect(findComponentType('input', 'cli')?.type).toBe('command_line');
    expect(findComponentType('output', 'cli')?.type).toBe('console');
    expect(findTypesNamed('cli').map((match) => match.kind)).toEqual(['input', 'output']);
  });

  it("describes keys in a project's terms, not this repository's scripts (hover and completion show them in editors)", () => {
    const scripts: string[] = [];
    for (const [kind, kindSpec] of Object.entries(catalogue.kinds)) {
      for (const [type, typeSpec] of Object.entries(kindSpec.types)) {
        for (const [key, spec] of Object.entries(componentKeys({ kindSpec, typeSpec }))) {
          if (/tools\/[\w-]+\.sh/.test(spec.description ?? '')) scripts.push(`${kind} ${type}: ${key}`);
        }
      }
    }
    expect(scripts).toEqual([]);
  });

  it('is frozen', () => {
    expect(Object.isFrozen(catalogue)).toBe(true);
    expect(Object.isFrozen(catalogue.kinds.llm?.types.openai?.keys.model)).toBe(true);
  });

  it('validates a declaration of every supported and planned type with only its required keys, filling valid defaults', () => {
    const declarations = ['ref_llm = llm openai {}', 'ref_memory = memory short_term {}', 'ref_kb = knowledge_base chroma {}', 'ref_out = output console {}'];
    const referenceTo = (kinds: readonly string[] | undefined) => (kinds?.[0] ? `ref_${kinds[0] === 'knowledge_base' ? 'kb' : kinds[0]}` : 'ref_out');
    let index = 0;
    for (const [kind, kindSpec] of Object.entries(catalogue.kinds)) {
      for (const [type, typeSpec] of Object.entries(kindSpec.types)) {
        if (typeSpec.status === 'unsupported' || kindSpec.status === 'unsupported' || kind === 'bus') continue;
        const required = Object.entries(typeSpec.keys as Record<string, KeySpec>).filter(([, key]) => key.required);
        const oneOf = (typeSpec.requireOneOf ?? []).map((group) => group[0] as string);
        const entries = [...required.map(([key, spec]) => `${key}: ${sample(spec.value, referenceTo)}`), ...oneOf.map((key) => `${key}: "x"`)];
        declarations.push(`c${index++} = ${kind} ${type} { ${entries.join(', ')} }`);
      }
    }
    declarations.push('the_bus = bus kafka {}');
    const { errors, topology } = check(declarations.join('\n'));
    expect(errors).toEqual([]);
    expect(topology.components.length).toBeGreaterThan(15);
    expect(topology.bus?.url).toBe('kafka://127.0.0.1:9092');
  });

  it('gives every component kind the keys every component accepts, except bus and vm', () => {
    for (const [kind, kindSpec] of Object.entries(catalogue.kinds)) {
      const type = Object.values(kindSpec.types)[0];
      if (!type) throw new Error(`${kind} has no types`);
      const keys = Object.keys(componentKeys({ kindSpec, typeSpec: type }));
      if (kind === 'bus' || kind === 'vm') expect(keys).not.toContain('to');
      else expect(keys).toEqual(expect.arrayContaining(['to', 'pipes', 'hooks', 'streaming', 'deployment', 'metrics']));
    }
  });

  it('marks which kinds receive messages', () => {
    const receivers = Object.entries(catalogue.kinds).filter(([, spec]) => spec.receives).map(([kind]) => kind);
    expect(receivers).toEqual(['llm', 'agent', 'output', 'transform', 'decomposer']);
  });
});
