/**
 * The catalogue in words, as Markdown for hovers and completion details: one source for both, and
 * every sentence taken from the catalogue the parser validates against.
 */
import { catalogue, describeSpec, type ComponentTypeMatch, type JsonValue, type KeySpec, type KindSpec } from '@woodwork/parser';

export function keyDocumentation(name: string, spec: KeySpec): string {
  const facts = [`expects ${describeSpec(spec.value)}`];
  if (spec.required) facts.push('required');
  if (spec.default !== undefined && !isEmpty(spec.default)) facts.push(`default \`${JSON.stringify(spec.default)}\``);
  if (spec.env === false) facts.push('no environment references');
  return `**\`${name}\`**: ${facts.join(' · ')}\n\n${spec.description}`;
}

/** One line: what the key takes, for a completion item's detail. */
export function keyDetail(spec: KeySpec): string {
  const facts = [describeSpec(spec.value)];
  if (spec.required) facts.push('required');
  if (spec.default !== undefined && !isEmpty(spec.default)) facts.push(`default ${JSON.stringify(spec.default)}`);
  return facts.join(', ');
}

export function kindDocumentation(kind: string, spec: KindSpec): string {
  const types = Object.entries(spec.types)
    .filter(([, type]) => type.status !== 'unsupported')
    .map(([type]) => `\`${type}\``);
  return `**kind \`${kind}\`**${status(spec.status)}\n\n${spec.description}\n\nTypes: ${types.join(', ')}`;
}

export function typeDocumentation(match: ComponentTypeMatch): string {
  const { kind, type, typeSpec, kindSpec } = match;
  const lines = [`**\`${kind} ${type}\`**${status(typeSpec.status === 'supported' ? kindSpec.status : typeSpec.status)}`, '', typeSpec.description];
  if (typeSpec.aliases.length > 0) lines.push('', `Also written ${typeSpec.aliases.map((alias) => `\`${alias}\``).join(', ')}.`);
  if (typeSpec.instead) lines.push('', typeSpec.instead);
  const keys = Object.entries(typeSpec.keys);
  if (keys.length > 0) {
    lines.push('', 'Keys:', ...keys.map(([key, spec]) => `- \`${key}\`${spec.required ? ' (required)' : ''}: ${describeSpec(spec.value)}`));
  }
  return lines.join('\n');
}

export function kindSpecOf(kind: string): KindSpec | undefined {
  return Object.hasOwn(catalogue.kinds, kind) ? catalogue.kinds[kind] : undefined;
}

function status(value: string): string {
  return value === 'supported' ? '' : ` (${value})`;
}

function isEmpty(value: JsonValue): boolean {
  return (Array.isArray(value) && value.length === 0) || (typeof value === 'object' && value !== null && Object.keys(value).length === 0);
}
