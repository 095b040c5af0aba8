/**
 * The first step of analysis: who is declared, and as what. Checks names (reserved, duplicate) and
 * resolves each declaration's kind and type against the catalogue, inferring the kind of the
 * one-word form (`agent = claude {}` is an `llm claude`).
 */
import type { DeclarationNode, IdentifierNode } from './ast.js';
import { catalogue, findComponentType, findTypesNamed, type ComponentTypeMatch } from './catalogue.js';
import type { Reporter } from './diagnostic.js';
import { didYouMean, listWords } from './suggest.js';

const RESERVED = new Set(['true', 'false', 'null']);

export interface DeclaredComponent {
  readonly name: string;
  readonly declaration: DeclarationNode;
  /**
   * The kind and type, when the catalogue knows them and the runtime supports them. Undefined
   * after a reported problem: the declaration is then left out of the topology, but references to
   * it stay quiet so that one mistake yields one diagnostic.
   */
  readonly match: ComponentTypeMatch | undefined;
}

export function resolveDeclarations(declarations: readonly DeclarationNode[], report: Reporter): Map<string, DeclaredComponent> {
  const declared = new Map<string, DeclaredComponent>();
  for (const declaration of declarations) {
    const name = declaration.name.name;
    if (RESERVED.has(name.toLowerCase())) {
      report('WW206', `\`${name}\` is reserved and cannot name a component`, declaration.name.location, {
        hint: '`true`, `false` and `null` (in any case) are values; pick another name',
      });
      continue;
    }
    const previous = declared.get(name);
    if (previous) {
      report('WW205', `duplicate name \`${name}\`: a component with this name is already declared`, declaration.name.location, {
        hint: 'rename one of them; references would not know which one they mean',
        related: [{ message: `\`${name}\` is first declared here`, location: previous.declaration.name.location }],
      });
      continue;
    }
    declared.set(name, { name, declaration, match: resolveType(declaration, report) });
  }
  return declared;
}

function resolveType(declaration: DeclarationNode, report: Reporter): ComponentTypeMatch | undefined {
  const { kind, componentType } = declaration;
  const match = kind ? resolveTwoWords(kind, componentType, report) : resolveOneWord(declaration.name.name, componentType, report);
  if (!match) return undefined;
  if (match.kindSpec.status === 'unsupported' || match.typeSpec.status === 'unsupported') {
    const supported = Object.entries(match.kindSpec.types)
      .filter(([, spec]) => spec.status !== 'unsupported')
      .map(([type]) => type);
    report('WW204', `\`${match.kind} ${match.type}\` is not supported by this runtime`, kind ? spanOf(kind, componentType) : componentType.location, {
      hint: match.typeSpec.instead
        ? `it comes from the classic Python engine; ${match.typeSpec.instead}`
        : supported.length > 0
          ? `it comes from the classic Python engine; supported \`${match.kind}\` types: ${listWords(supported, 'and')}`
          : `it comes from the classic Python engine; the \`${match.kind}\` kind is not available`,
    });
    return undefined;
  }
  return match;
}

function resolveTwoWords(kind: IdentifierNode, type: IdentifierNode, report: Reporter): ComponentTypeMatch | undefined {
  const kindSpec = Object.hasOwn(catalogue.kinds, kind.name) ? catalogue.kinds[kind.name] : undefined;
  if (!kindSpec) {
    const swapped = findComponentType(type.name, kind.name);
    report('WW201', `unknown kind \`${kind.name}\``, kind.location, {
      hint: swapped
        ? `the kind comes first: \`${type.name} ${kind.name}\``
        : (didYouMean(kind.name, Object.keys(catalogue.kinds)) ?? `kinds are ${listWords(Object.keys(catalogue.kinds))}`),
    });
    return undefined;
  }
  const match = findComponentType(kind.name, type.name);
  if (!match) {
    const names = Object.entries(kindSpec.types).flatMap(([name, spec]) => [name, ...spec.aliases]);
    const elsewhere = findTypesNamed(type.name).map((other) => `\`${other.kind} ${type.name}\``);
    report('WW202', `unknown \`${kind.name}\` type \`${type.name}\``, type.location, {
      hint:
        didYouMean(type.name, names) ??
        (elsewhere.length > 0
          ? `\`${type.name}\` is a type of another kind: ${elsewhere.join(', ')}`
          : `\`${kind.name}\` types are ${listWords(Object.keys(kindSpec.types))}`),
    });
    return undefined;
  }
  return match;
}

/**
 * `name = word { … }`: the kind is the one kind with a supported type (or alias) `word`. When
 * several kinds have it (`cli`: input and output), a declaration named after one of those kinds
 * takes it (`input = cli {}`); otherwise the form is ambiguous.
 */
function resolveOneWord(name: string, type: IdentifierNode, report: Reporter): ComponentTypeMatch | undefined {
  const matches = findTypesNamed(type.name);
  const every = matches.filter((match) => match.kindSpec.status !== 'unsupported' && match.typeSpec.status !== 'unsupported');
  // A declaration named after a kind takes that kind's type, even a kind that is spelled only.
  const named = every.length > 1 ? every.find((match) => match.kind === name) : undefined;
  if (named) return named;
  const unspelled = every.filter((match) => match.kindSpec.spelledOnly !== true);
  const supported = unspelled.length > 0 ? unspelled : every;
  if (supported.length === 1) {
    const only = supported[0] as ComponentTypeMatch;
    warnIfAlsoKind(name, type, only, report);
    return only;
  }
  if (supported.length > 1) {
    const byName = supported.find((match) => match.kind === name);
    if (byName) return byName;
    const forms = supported.map((match) => `\`${match.kind} ${type.name}\``);
    const canonical = supported.filter((match) => match.type !== type.name).map((match) => `\`${match.kind} ${match.type}\``);
    report('WW203', `\`${type.name}\` is a type of several kinds: ${listWords(supported.map((match) => match.kind), 'and')}`, type.location, {
      hint:
        `write ${forms.join(' or ')}${canonical.length > 0 ? ` (or ${canonical.join(', ')})` : ''}, ` +
        `or name the component ${listWords(supported.map((match) => match.kind))}`,
    });
    return undefined;
  }
  if (matches.length > 0) return matches[0];

  const kindSpec = Object.hasOwn(catalogue.kinds, type.name) ? catalogue.kinds[type.name] : undefined;
  if (kindSpec) {
    const types = Object.keys(kindSpec.types).filter((key) => kindSpec.types[key]?.status !== 'unsupported');
    report('WW202', `\`${type.name}\` is a kind, not a type`, type.location, {
      hint: `add the type: ${types.map((t) => `\`${type.name} ${t}\``).join(' or ')}`,
    });
    return undefined;
  }
  const allNames = Object.values(catalogue.kinds).flatMap((spec) => Object.entries(spec.types).flatMap(([t, s]) => [t, ...s.aliases]));
  report('WW202', `unknown component type \`${type.name}\``, type.location, {
    hint: didYouMean(type.name, new Set(allNames)) ?? 'write `kind type` (`llm openai`) or a type the catalogue knows (`claude`, `cli`, `redis`, …)',
  });
  return undefined;
}

/**
 * `m = memory {}` is the in-memory *bus* and `model = llm {}` an *agent*: the one-word form takes
 * the type, and `memory` and `llm` are also kind names. Said out loud, unless the declaration is
 * named after the kind it gets (`bus = memory {}`, `agent = llm {}`), which shows the intent.
 */
function warnIfAlsoKind(name: string, type: IdentifierNode, match: ComponentTypeMatch, report: Reporter): void {
  const kindSpec = Object.hasOwn(catalogue.kinds, type.name) ? catalogue.kinds[type.name] : undefined;
  if (!kindSpec || name === match.kind) return;
  const types = Object.keys(kindSpec.types).filter((key) => kindSpec.types[key]?.status !== 'unsupported');
  report('WW221', `\`${type.name}\` alone declares ${match.kind === 'agent' ? 'an' : 'a'} \`${match.kind} ${match.type}\`, not ${type.name === 'llm' ? 'an' : 'a'} \`${type.name}\` component`, type.location, {
    hint: `write ${types.map((t) => `\`${type.name} ${t}\``).join(' or ')} for ${type.name === 'llm' ? 'an' : 'a'} ${type.name}, or \`${match.kind} ${match.type}\` to keep this one and silence the warning`,
  });
}

function spanOf(first: IdentifierNode, last: IdentifierNode) {
  return { ...first.location, endLine: last.location.endLine, endColumn: last.location.endColumn, endOffset: last.location.endOffset };
}
