/**
 * What each container is told: which unit it runs, where the bus and the session store are, and
 * the variables of the `.ww` file its unit's host resolves — those its components use and the
 * bus's, none of the other units' — as a reference (a compose `${NAME}`, a Kubernetes Secret key),
 * never the value: the build does not read secrets and its artifacts do not hold them.
 */
import type { BuildPlan, BuildUnit, BuildVariable } from './plan.js';

export interface Connections {
  readonly bus: string;
  /** Redis for sessions and the registry when the bus is not Redis. */
  readonly sessions: string | null;
}

export type EnvEntry =
  | { readonly name: string; readonly value: string }
  /** A variable of the `.ww` file: the deployment supplies it. `usedAt`: where the unit uses it. */
  | { readonly name: string; readonly variable: BuildVariable; readonly usedAt: string };

/** The host's own variables, in the order a reader wants them. */
export function hostEnvironment(plan: BuildPlan, unit: BuildUnit, connections: Connections): EnvEntry[] {
  return [
    { name: 'WOODWORK_COMPONENT', value: unit.unit },
    { name: 'WOODWORK_BUS_URL', value: connections.bus },
    ...(connections.sessions === null ? [] : [{ name: 'WOODWORK_SESSIONS_URL', value: connections.sessions }]),
    // Keeps this topology's topics and keys apart from others on a shared broker.
    { name: 'WOODWORK_NAMESPACE', value: plan.project },
    ...(unit.apiPort === null ? [] : [{ name: 'WOODWORK_API_PORT', value: String(unit.apiPort) }]),
  ];
}

/**
 * The unit's variables. One that only the bus uses here is set to the bus the container is given
 * (the host reads WOODWORK_BUS_URL, but the file's bus must still resolve).
 */
export function fileVariables(unit: BuildUnit, connections: Connections): EnvEntry[] {
  return unit.variables.map(({ variable, usedAt, fromBus }) => (fromBus ? { name: variable.name, value: connections.bus } : { name: variable.name, variable, usedAt }));
}

/** The variables a deployment must supply: used by a component in a container, without a default. */
export function requiredVariables(plan: BuildPlan): BuildVariable[] {
  return plan.variables.filter((variable) => variable.units.length > 0 && variable.default === undefined);
}
