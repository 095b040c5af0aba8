/**
 * "Did you mean …?" suggestions: the closest candidate by edit distance (Levenshtein), if it is
 * close enough to be a plausible typo rather than a different word.
 */

/**
 * Edit distance with insertions, deletions, substitutions and transpositions of neighbours
 * (optimal string alignment, so `mme` is one edit from `mem`), in O(a·b) time.
 */
function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  const width = b.length + 1;
  const distances = new Array<number>((a.length + 1) * width);
  for (let i = 0; i <= a.length; i++) distances[i * width] = i;
  for (let j = 0; j <= b.length; j++) distances[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(
        (distances[(i - 1) * width + j] as number) + 1,
        (distances[i * width + j - 1] as number) + 1,
        (distances[(i - 1) * width + j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (distances[(i - 2) * width + j - 2] as number) + 1);
      }
      distances[i * width + j] = best;
    }
  }
  return distances[a.length * width + b.length] as number;
}

/**
 * The candidate closest to `word`, or undefined when none is within a third of the word's length
 * (at least 1, at most 3 edits). A case-only difference always counts as close.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const lower = word.toLowerCase();
  const limit = Math.min(3, Math.max(1, Math.floor(word.length / 3)));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    if (candidate === word) continue;
    // The distance is at least the difference in length: most candidates need no table at all (a
    // file of hundreds of components checks every unknown name against each of them).
    if (Math.abs(candidate.length - word.length) > Math.min(limit, bestDistance)) continue;
    const distance = candidate.toLowerCase() === lower ? 0 : levenshtein(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= limit ? best : undefined;
}

/** `did you mean \`x\`?`, or undefined. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const match = closest(word, candidates);
  return match === undefined ? undefined : `did you mean \`${match}\`?`;
}

/** "a" or "an" before a word in backticks: an `llm`, an `agent`, a `memory`. */
export function withArticle(phrase: string): string {
  return /^`?(llm|mcp|[aeiou])/i.test(phrase) ? `an ${phrase}` : `a ${phrase}`;
}

/** `a`, `a or b`, `a, b or c` with each item in backticks. */
export function listWords(words: readonly string[], conjunction = 'or'): string {
  const quoted = words.map((word) => `\`${word}\``);
  if (quoted.length <= 1) return quoted.join('');
  return `${quoted.slice(0, -1).join(', ')} ${conjunction} ${quoted[quoted.length - 1]}`;
}
