/**
 * Where things travel on the bus. Names are stable and documented (README, "On the bus") because
 * other processes — the host, the API gateway, `redis-cli` — read and write them:
 *
 * | what | topic | consumer group |
 * |---|---|---|
 * | messages to a component (its inbox) | `<ns>.component.<name>` | `<name>` (competing instances) |
 * | every event of every session | `<ns>.events` | `<name>.hooks` for a component's hooks; one per session reader |
 * | replies to calls made by one runtime instance | `<ns>.replies.<instance>` | `<instance>` |
 *
 * `<ns>` is the runtime's namespace (default `woodwork`), so several topologies can share a broker.
 * Component names may start with `_`, which bus names may not, hence the prefixes.
 */

/** The default namespace: the first segment of every topic. */
export const DEFAULT_NAMESPACE = 'woodwork';

const NAMESPACE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function isValidNamespace(value: string): boolean {
  return NAMESPACE_PATTERN.test(value);
}

export function componentTopic(namespace: string, component: string): string {
  return `${namespace}.component.${component}`;
}

export function eventsTopic(namespace: string): string {
  return `${namespace}.events`;
}

export function repliesTopic(namespace: string, instance: string): string {
  return `${namespace}.replies.${instance}`;
}

/** The consumer group of a component's instances. */
export function componentGroup(component: string): string {
  return /^[A-Za-z0-9]/.test(component) ? component : `c${component}`;
}

/** The consumer group of a component's hooks (`<component>.hooks`). */
export function hooksGroup(component: string): string {
  return `${componentGroup(component)}.hooks`;
}
