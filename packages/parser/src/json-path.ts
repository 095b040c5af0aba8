/**
 * Reading and writing a value at a JSON path (`["components", 0, "config", "port"]`), the way
 * environment usages point into a topology.
 */

export type JsonPath = readonly (string | number)[];

export function valueAtPath(root: unknown, path: JsonPath): unknown {
  let current: unknown = root;
  for (const step of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string | number, unknown>)[step];
  }
  return current;
}

export function setAtPath(root: unknown, path: JsonPath, value: unknown): void {
  const parent = valueAtPath(root, path.slice(0, -1));
  if (typeof parent === 'object' && parent !== null && path.length > 0) {
    (parent as Record<string | number, unknown>)[path[path.length - 1] as string | number] = value;
  }
}
