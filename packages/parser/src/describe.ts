/**
 * Words for values and value types in messages: "expects a number, found a string".
 */
import type { ValueNode } from './ast.js';
import type { ValueSpec } from './catalogue.js';
import { listWords, withArticle } from './suggest.js';

export function describeNode(node: ValueNode): string {
  switch (node.type) {
    case 'String':
    case 'Template':
      return 'a string';
    case 'Number':
      return `the number ${node.raw}`;
    case 'Boolean':
      return `\`${node.raw}\``;
    case 'Null':
      return '`null`';
    case 'EnvReference':
      return `the environment reference \`$${node.name}\``;
    case 'Reference':
      return `a reference to \`${node.name}\``;
    case 'List':
      return 'a list';
    case 'Map':
      return 'a map';
    case 'Invalid':
      return 'an invalid value';
  }
}

export function describeSpec(spec: ValueSpec): string {
  switch (spec.type) {
    case 'string':
      return 'a string';
    case 'path':
      return 'a file path (a string)';
    case 'number':
      return spec.integer ? 'a whole number' : 'a number';
    case 'boolean':
      return 'true or false';
    case 'duration':
      return `a duration ("30s", "5m") or milliseconds${spec.off ? ', or "off"' : ''}`;
    case 'enum':
      return `one of ${listWords(spec.values)}`;
    case 'reference':
      if (spec.kinds && spec.kinds.length > 0) return `the name of ${withArticle(listWords(spec.kinds))} component`;
      return spec.receiver ? 'the name of a component that receives messages' : 'the name of a component';
    case 'list':
      return `a list of ${describeItems(spec.items)}`;
    case 'map':
      return 'a map { … }';
    case 'record':
      return 'a map { … }';
    case 'oneOf':
      return spec.options.map(describeSpec).join(' or ');
    case 'pipe':
    case 'hook':
      return `a ${spec.type} ("file.ts::function" or { event, function })`;
    case 'any':
      return 'a value';
  }
}

/** How the items of a list are called: "strings", "names of `llm` components". */
function describeItems(spec: ValueSpec): string {
  switch (spec.type) {
    case 'string':
      return 'strings';
    case 'path':
      return 'file paths';
    case 'number':
      return spec.integer ? 'whole numbers' : 'numbers';
    case 'boolean':
      return 'booleans';
    case 'reference':
      return spec.kinds && spec.kinds.length > 0 ? `names of ${listWords(spec.kinds)} components` : 'names of components';
    case 'pipe':
      return 'pipes';
    case 'hook':
      return 'hooks';
    case 'map':
    case 'record':
      return 'maps';
    default:
      return 'values';
  }
}
