/**
 * Multiple choice: the letter a response chose. Anchored phrasings win over bare letters ("final
 * answer is", "Answer:", \boxed{}, then a letter standing alone), and within one kind the last
 * occurrence wins, as in Math-Verify's StringExtractionConfig.
 */

const WINDOW = 32_768;

function patterns(letters: string): { re: RegExp; prio: number }[] {
  const L = `(?<letter>[${letters}])`;
  const pre = '(?:^|[\\s(\\[*])(?:\\*\\*)?\\(?';
  const post = '\\)?(?:\\*\\*)?(?=[.,:;)\\]\\s*]|$)';
  const tok = `${pre}${L}${post}`;
  return [
    { re: new RegExp(`final answer is:?\\s*\\(?${L}\\)?\\.?\\s?I hope`, 'gi'), prio: 0 },
    { re: new RegExp(`final answer[\\s\\S]{0,100}?\\s+is:?\\s*\\(?${L}(?![A-Za-z])`, 'gi'), prio: 50 },
    { re: new RegExp(`\\\\boxed\\{\\s*(?:\\\\text(?:bf)?\\{)?\\s*\\(?${L}\\)?\\s*\\}?\\s*\\}`, 'g'), prio: 60 },
    { re: new RegExp(`answer\\s*:[\\s\\S]{0,50}?${tok}`, 'gi'), prio: 100 },
    { re: new RegExp(`answer[\\s\\S]{0,50}?${tok}`, 'gi'), prio: 200 },
    { re: new RegExp(`^(?:\\*\\*)?\\(?${L}\\)?${post}`, 'gm'), prio: 250 },
    { re: new RegExp(tok, 'g'), prio: 300 },
  ];
}

const cache = new Map<string, { re: RegExp; prio: number }[]>();

/** The chosen letter (upper case) among `letters` (default A–J), or null when none is found. */
export function extractChoice(response: string, letters = 'ABCDEFGHIJ'): string | null {
  if (response.length > WINDOW) response = response.slice(response.length - WINDOW);
  let pats = cache.get(letters);
  if (!pats) {
    pats = patterns(letters);
    cache.set(letters, pats);
  }
  let best: { prio: number; end: number; letter: string } | null = null;
  for (const { re, prio } of pats) {
    if (best && prio > best.prio) break;
    re.lastIndex = 0;
    for (let m = re.exec(response); m !== null; m = re.exec(response)) {
      const letter = m.groups!.letter!;
      // Case-insensitive anchors must not turn a lower-case article ("a") into a choice.
      if (letter !== letter.toUpperCase()) {
        if (m[0].length === 0) re.lastIndex++;
        continue;
      }
      const end = m.index + m[0].length;
      if (!best || prio < best.prio || (prio === best.prio && end > best.end)) best = { prio, end, letter };
      if (m[0].length === 0) re.lastIndex++;
    }
  }
  return best ? best.letter : null;
}

/** Normalises a reference choice ("C", "(C)", " c ") to its letter, or null when it is none. */
export function referenceChoice(reference: string): string | null {
  const m = /^\s*\(?\s*([A-Ja-j])\s*\)?\s*[.:]?\s*$/.exec(reference);
  return m ? m[1]!.toUpperCase() : null;
}
