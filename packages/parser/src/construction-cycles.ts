/**
 * Construction cycles: a component is built after what it names in `model`, `tools`, `memory` and
 * `knowledge_base`, so those references must not loop back (`a` needs `b` needs `a`). Finds the
 * strongly connected components (Tarjan, iteratively: no recursion depth to exhaust) and reports
 * one cycle through each, spelled out: `a → b → a`.
 */
import type { ConstructionEdge } from './convert-value.js';
import type { Reporter } from './diagnostic.js';

export function reportConstructionCycles(order: readonly string[], edges: readonly ConstructionEdge[], report: Reporter): void {
  const outgoing = new Map<string, ConstructionEdge[]>();
  for (const edge of edges) {
    const list = outgoing.get(edge.from);
    if (list) list.push(edge);
    else outgoing.set(edge.from, [edge]);
  }
  let rank: Map<string, number> | undefined;

  for (const members of stronglyConnected(order, outgoing)) {
    const selfLoop = members.length === 1 && (outgoing.get(members[0] as string) ?? []).some((edge) => edge.to === members[0]);
    if (members.length === 1 && !selfLoop) continue;
    rank ??= new Map(order.map((name, index) => [name, index]));
    const ranks = rank;
    const start = [...members].sort((a, b) => (ranks.get(a) ?? 0) - (ranks.get(b) ?? 0))[0] as string;
    const cycle = shortestCycle(start, new Set(members), outgoing);
    const first = cycle[0] as ConstructionEdge;
    const spelled = [start, ...cycle.map((edge) => edge.to)].join(' → ');
    report('WW212', `construction cycle: ${spelled}`, first.location, {
      hint: '`model`, `tools`, `memory` and `knowledge_base` are built before the component that names them, so they cannot name it back; use `to` to route messages in a loop',
      related: cycle.map((edge) => ({ message: `\`${edge.from}\` needs \`${edge.to}\` (${edge.key})`, location: edge.location })),
    });
  }
}

function stronglyConnected(nodes: readonly string[], outgoing: ReadonlyMap<string, readonly ConstructionEdge[]>): string[][] {
  const index = new Map<string, number>();
  const lowLink = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const result: string[][] = [];
  let counter = 0;

  for (const root of nodes) {
    // A component that needs nothing is a component of its own, and no cycle: most of them. Were
    // it reached later, from one that needs it, it would come out the same.
    if (index.has(root) || !outgoing.has(root)) continue;
    const work: { node: string; next: number }[] = [{ node: root, next: 0 }];
    index.set(root, counter);
    lowLink.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1] as { node: string; next: number };
      const edges = outgoing.get(frame.node) ?? [];
      if (frame.next < edges.length) {
        const target = (edges[frame.next++] as ConstructionEdge).to;
        if (!index.has(target)) {
          index.set(target, counter);
          lowLink.set(target, counter++);
          stack.push(target);
          onStack.add(target);
          work.push({ node: target, next: 0 });
        } else if (onStack.has(target)) {
          lowLink.set(frame.node, Math.min(lowLink.get(frame.node) as number, index.get(target) as number));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) lowLink.set(parent.node, Math.min(lowLink.get(parent.node) as number, lowLink.get(frame.node) as number));
      if (lowLink.get(frame.node) === index.get(frame.node)) {
        const members: string[] = [];
        let member: string;
        do {
          member = stack.pop() as string;
          onStack.delete(member);
          members.push(member);
        } while (member !== frame.node);
        result.push(members);
      }
    }
  }
  return result;
}

/** The shortest path of edges from `start` back to `start`, inside one strongly connected set. */
function shortestCycle(start: string, members: ReadonlySet<string>, outgoing: ReadonlyMap<string, readonly ConstructionEdge[]>): ConstructionEdge[] {
  const cameBy = new Map<string, ConstructionEdge>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head] as string;
    for (const edge of outgoing.get(node) ?? []) {
      if (!members.has(edge.to)) continue;
      if (edge.to === start) {
        const path = [edge];
        for (let at = node; at !== start; ) {
          const previous = cameBy.get(at) as ConstructionEdge;
          path.unshift(previous);
          at = previous.from;
        }
        return path;
      }
      if (!cameBy.has(edge.to)) {
        cameBy.set(edge.to, edge);
        queue.push(edge.to);
      }
    }
  }
  return [];
}
