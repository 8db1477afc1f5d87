/**
 * A small byte-level BPE vocabulary in GPT-2's encoding, which llama.cpp reads as `tokenizer.ggml.model = "gpt2"`.
 *
 * Byte-level means every byte has a token, so any text — any UTF-8, any whitespace — tokenizes and detokenizes
 * back exactly; the merged tokens only make common code shorter. GPT-2 stores bytes as printable characters (a
 * token's text must be valid UTF-8 without control characters), mapping the printable Latin-1 bytes to
 * themselves and the rest to U+0100 onwards.
 */

/** llama_token_type: what the vocabulary's `token_type` array holds. */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export interface TinyVocab {
  readonly tokens: readonly string[];
  readonly tokenTypes: readonly number[];
  /** "left right" pairs, highest priority first; each pair's parts and its result are tokens. */
  readonly merges: readonly string[];
  readonly bosId: number;
  readonly eosId: number;
  /** ChatML markers, so chat templates that use them tokenize to single control tokens. */
  readonly imStartId: number;
  readonly imEndId: number;
}

/** GPT-2's byte → character table. */
export function byteToUnicode(): string[] {
  const table: string[] = [];
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table.push(String.fromCodePoint(printable ? b : next++));
  }
  return table;
}

/**
 * Text the merges build up to, chosen for Python code as llama.cpp's "qwen2" pre-tokenizer splits it: words carry
 * their leading space (" return"), runs of indentation stop one space short of the next word, and punctuation
 * keeps trailing newlines ("):\n").
 */
export const MERGED_TEXT: readonly string[] = [
  '       ', // 2 to 7 spaces, built up one at a time
  '\n\n',
  'def',
  ' return',
  'return',
  'self',
  ' self',
  'if',
  ' if',
  'else',
  'elif',
  ' for',
  'for',
  ' in',
  ' range',
  'import',
  'from',
  'class',
  ' None',
  ' True',
  ' False',
  'print',
  ' len',
  ' and',
  ' or',
  ' not',
  'while',
  ' is',
  'lambda',
  '):\n',
  '()',
  ' ==',
  ' +=',
  ' a',
  ' b',
  ' x',
  ' i',
  ' n',
  'assert',
];

export function buildTinyVocab(): TinyVocab {
  const byteChars = byteToUnicode();
  const tokens: string[] = [...byteChars];
  const tokenTypes: number[] = tokens.map(() => TokenType.NORMAL);
  const known = new Set(tokens);
  const merges: string[] = [];

  for (const text of MERGED_TEXT) {
    const symbols = [...Buffer.from(text, 'utf8')].map((b) => byteChars[b] ?? '');
    // Left to right: "def" comes from "d e" then "de f", so every merge joins two tokens that already exist.
    let prefix = symbols[0] ?? '';
    for (const symbol of symbols.slice(1)) {
      const joined = prefix + symbol;
      if (!known.has(joined)) {
        merges.push(`${prefix} ${symbol}`);
        tokens.push(joined);
        tokenTypes.push(TokenType.NORMAL);
        known.add(joined);
      }
      prefix = joined;
    }
  }

  const special = (text: string): number => {
    tokens.push(text);
    tokenTypes.push(TokenType.CONTROL);
    return tokens.length - 1;
  };
  const bosId = special('<s>');
  const eosId = special('</s>');
  const imStartId = special('<|im_start|>');
  const imEndId = special('<|im_end|>');
  return { tokens, tokenTypes, merges, bosId, eosId, imStartId, imEndId };
}
