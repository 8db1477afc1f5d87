/**
 * A byte-level BPE vocabulary of any size, for generated models of real shape: Qwen2.5's 151,936 tokens,
 * Llama 3's 128,256, Gemma's 256,000. The first tokens are the tiny vocabulary's (every byte, then merges for
 * common Python), so text tokenizes the same way; the rest are letter and digit strings, each with the merge that
 * builds it, so the merge table is as long as a real one and every token can be detokenized (a token's text uses
 * only GPT-2 byte characters). The architecture's special tokens come last, as in the real vocabularies.
 */
import { byteToUnicode, MERGED_TEXT, TokenType } from './tiny-vocab.js';

export interface SpecialToken {
  readonly text: string;
}

export interface SyntheticVocab {
  readonly tokens: readonly string[];
  readonly tokenTypes: readonly number[];
  readonly merges: readonly string[];
  /** Id of each special token by its text. */
  readonly special: ReadonlyMap<string, number>;
}

/** Characters filler tokens are made of: GPT-2 shows a space as Ġ, so "Ġab" is " ab". */
const ALPHABET = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_', 'Ġ'];

const cache = new Map<string, SyntheticVocab>();

export function buildSyntheticVocab(size: number, specials: readonly string[]): SyntheticVocab {
  const key = `${size}\u0000${specials.join('\u0000')}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const byteChars = byteToUnicode();
  const tokens: string[] = [...byteChars];
  const known = new Set(tokens);
  const merges: string[] = [];
  const room = size - specials.length;
  if (room < tokens.length) throw new Error(`a vocabulary of ${size} tokens cannot hold the 256 bytes and ${specials.length} special tokens`);
  const add = (left: string, right: string): void => {
    const joined = left + right;
    if (known.has(joined) || tokens.length >= room) return;
    merges.push(`${left} ${right}`);
    tokens.push(joined);
    known.add(joined);
  };
  for (const text of MERGED_TEXT) {
    const symbols = [...Buffer.from(text, 'utf8')].map((b) => byteChars[b] ?? '');
    let prefix = symbols[0] ?? '';
    for (const symbol of symbols.slice(1)) {
      add(prefix, symbol);
      prefix += symbol;
    }
  }
  // Breadth first: every pair of characters, then every pair extended by one character, and so on, so each merge
  // joins two tokens that already exist.
  let frontier = ALPHABET;
  while (tokens.length < room) {
    const next: string[] = [];
    for (const left of frontier) {
      for (const c of ALPHABET) {
        if (tokens.length >= room) break;
        add(left, c);
        next.push(left + c);
      }
      if (tokens.length >= room) break;
    }
    frontier = next;
  }
  const tokenTypes: number[] = tokens.map(() => TokenType.NORMAL);
  const special = new Map<string, number>();
  for (const text of specials) {
    special.set(text, tokens.length);
    tokens.push(text);
    tokenTypes.push(TokenType.CONTROL);
  }
  const vocab = { tokens, tokenTypes, merges, special };
  cache.set(key, vocab);
  return vocab;
}
