import fs from 'node:fs/promises';
import { AppError } from '../../main/errors.js';
import {
  ALIGNMENT_KEY,
  DEFAULT_ALIGNMENT,
  FIXED_VALUE_BYTES,
  GGUF_MAGIC,
  GgufValueType,
  LLAMA_FILE_TYPE_NAMES,
  MAX_TENSOR_DIMS,
  MAX_TENSOR_NAME_BYTES,
  SUPPORTED_GGUF_VERSIONS,
  alignUp,
  ggmlTypeById,
  tensorByteSize,
} from './format.js';
import { HeaderCursor } from './header-cursor.js';

/**
 * A metadata value. 64-bit integers become numbers when they fit exactly in one and bigints otherwise, so
 * `general.parameter_count` and friends stay easy to use while nothing is silently rounded.
 */
export type GgufValue = string | number | bigint | boolean | readonly GgufValue[];

export interface GgufTensorInfo {
  readonly name: string;
  /** ggml order: dims[0] is the row length (the innermost, contiguous dimension). */
  readonly dims: readonly number[];
  /** The ggml type's name: F32, F16, Q4_K… */
  readonly type: string;
  readonly typeId: number;
  /** Where the tensor's data starts, as an absolute position in the file. */
  readonly offset: number;
  readonly bytes: number;
  readonly elements: number;
}

export interface GgufInfo {
  readonly file: string;
  readonly version: number;
  readonly metadata: Readonly<Record<string, GgufValue>>;
  readonly tensors: readonly GgufTensorInfo[];
  readonly alignment: number;
  /** Absolute position of the tensor data section. */
  readonly dataOffset: number;
  /** Where the key/value pairs end and the tensor table starts, and where the table ends (before padding). */
  readonly metadataEnd: number;
  readonly tensorTableEnd: number;
  readonly fileSize: number;
  /** `general.architecture`, e.g. "llama". */
  readonly architecture: string | undefined;
  /** `general.name`. */
  readonly name: string | undefined;
  /** `general.type`: "model", "adapter"… (absent in older model files). */
  readonly fileKind: string | undefined;
  /** The sum of the tensors' element counts. */
  readonly parameterCount: number;
  /** `<architecture>.context_length`: the context the model was trained with. */
  readonly contextLength: number | undefined;
  readonly hasChatTemplate: boolean;
  /** `general.file_type` by name (F16, Q4_K_M…), else the type holding most of the weights. */
  readonly quantization: string | undefined;
}

/** Real models have a few thousand tensors and a few dozen keys; counts far beyond this mean a corrupt header. */
const MAX_TENSORS = 1_000_000;
const MAX_KEYS = 1_000_000;
/** ggml's own cap on a metadata string; nothing legitimate comes close. */
const MAX_STRING_BYTES = 1 << 30;
/** GGUF allows arrays of arrays; ggml reads none, so deeper nesting is corruption, not data. */
const MAX_ARRAY_DEPTH = 2;
/** Smallest possible encodings, to reject counts that cannot fit in the rest of the file before looping on them. */
const MIN_KEY_VALUE_BYTES = 8 + 1 + 4 + 1;
const MIN_TENSOR_INFO_BYTES = 8 + 1 + 4 + 8 + 4 + 8;

const FIX_HINT = 'The file is damaged or incomplete: download or convert the model again.';

function bad(message: string, hint = FIX_HINT): AppError {
  return new AppError('BAD_INPUT', message, hint);
}

/**
 * Reads a GGUF file's header — metadata and tensor table — with positional reads of the first few megabytes at
 * most; tensor data is never read, only checked to lie inside the file.
 */
export async function readGgufInfo(file: string): Promise<GgufInfo> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new AppError('NOT_FOUND', `${file} does not exist`, 'Check the model path.');
    if (code === 'EISDIR') throw bad(`${file} is a folder, not a GGUF file`, 'Choose the .gguf file inside it.');
    throw bad(`cannot open ${file}: ${(e as Error).message}`, 'Check that the file exists and is readable.');
  }
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) throw bad(`${file} is a folder, not a GGUF file`, 'Choose the .gguf file inside it.');
    return await parseHeader(file, handle, stat.size);
  } finally {
    await handle.close();
  }
}

async function parseHeader(file: string, handle: fs.FileHandle, fileSize: number): Promise<GgufInfo> {
  // What the parser is in the middle of, for the truncation message.
  let reading = (): string => 'the file header';
  const cursor = new HeaderCursor(handle, fileSize, () =>
    bad(`${file} is truncated: ${reading()} but the file ends at byte ${fileSize}`),
  );

  await checkMagic(file, handle, fileSize);
  cursor.position = 4;
  await cursor.need(4 + 8 + 8);
  const version = cursor.u32();
  checkVersion(file, version);
  const tensorCount = countOf(cursor.u64());
  const keyCount = countOf(cursor.u64());

  if (tensorCount > MAX_TENSORS || keyCount > MAX_KEYS) {
    const what = tensorCount > MAX_TENSORS ? `${tensorCount} tensors` : `${keyCount} metadata keys`;
    throw bad(`${file} has a corrupt header: it claims ${what}, far more than any model has`);
  }
  if (tensorCount * MIN_TENSOR_INFO_BYTES > cursor.remaining) {
    throw bad(`${file} is truncated: header says ${tensorCount} tensors but the file ends at byte ${fileSize}`);
  }
  if (keyCount * MIN_KEY_VALUE_BYTES + tensorCount * MIN_TENSOR_INFO_BYTES > cursor.remaining) {
    throw bad(`${file} is truncated: header says ${keyCount} metadata keys but the file ends at byte ${fileSize}`);
  }

  const metadata: Record<string, GgufValue> = Object.create(null) as Record<string, GgufValue>;
  for (let i = 0; i < keyCount; i++) {
    reading = () => `header says ${keyCount} metadata keys (key #${i + 1} is cut off)`;
    const key = await readString(cursor, file);
    if (key.length === 0) throw bad(`${file} has a corrupt header: metadata key #${i + 1} is empty`);
    if (key in metadata) throw bad(`${file} has a corrupt header: metadata key '${key}' appears twice`);
    reading = () => `header says ${keyCount} metadata keys (the value of '${key}' is cut off)`;
    await cursor.need(4);
    metadata[key] = await readValue(cursor, file, key, cursor.u32(), 0);
  }

  const alignment = alignmentOf(file, metadata);
  const metadataEnd = cursor.position;

  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  const relativeOffsets: number[] = [];
  reading = () => `header says ${tensorCount} tensors`;
  for (let i = 0; i < tensorCount; i++) {
    const name = await readString(cursor, file);
    const label = `tensor #${i + 1} ('${name}')`;
    if (Buffer.byteLength(name) > MAX_TENSOR_NAME_BYTES) throw bad(`${file} has a corrupt header: ${label} has a name over ${MAX_TENSOR_NAME_BYTES} bytes`);
    if (names.has(name)) throw bad(`${file} has a corrupt header: tensor '${name}' appears twice`);
    names.add(name);
    await cursor.need(4);
    const dimCount = cursor.u32();
    if (dimCount > MAX_TENSOR_DIMS) throw bad(`${file} has a corrupt header: ${label} has ${dimCount} dimensions (at most ${MAX_TENSOR_DIMS})`);
    await cursor.need(dimCount * 8 + 4 + 8);
    const dims: number[] = [];
    for (let d = 0; d < dimCount; d++) {
      const size = cursor.u64();
      if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(`${file} has a corrupt header: ${label} has a dimension of ${size}`);
      dims.push(Number(size));
    }
    const elements = dims.reduce((product, d) => product * d, 1);
    if (!Number.isSafeInteger(elements)) throw bad(`${file} has a corrupt header: ${label} has ${dims.join('×')} elements`);
    const typeId = cursor.u32();
    const type = ggmlTypeById(typeId);
    if (!type) {
      throw bad(`${file} uses tensor type ${typeId} for ${label}, which this app does not know`, 'The file may need a newer version of the app, or it is corrupt.');
    }
    const bytes = tensorByteSize(type, dims);
    if (bytes === undefined) {
      throw bad(`${file} has a corrupt header: ${label} is ${type.name} but its rows of ${dims[0]} are not whole blocks of ${type.blockSize}`);
    }
    const offset = cursor.u64();
    if (offset > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(`${file} has a corrupt header: ${label} starts at byte ${offset}`);
    if (Number(offset) % alignment !== 0) throw bad(`${file} has a corrupt header: ${label} starts at ${offset}, not a multiple of the alignment ${alignment}`);
    relativeOffsets.push(Number(offset));
    tensors.push({ name, dims, type: type.name, typeId, offset: 0, bytes, elements });
  }

  // ggml pads to the data section only when there is data: a vocabulary-only file ends right after its header.
  const dataOffset = tensorCount > 0 ? alignUp(cursor.position, alignment) : cursor.position;
  const located = tensors.map((t, i) => ({ ...t, offset: dataOffset + (relativeOffsets[i] ?? 0) }));
  for (const t of located) {
    if (t.offset + t.bytes > fileSize) {
      throw bad(
        `${file}: tensor data extends past the end of the file (file truncated?): '${t.name}' needs bytes ${t.offset}–${t.offset + t.bytes} but the file ends at byte ${fileSize}`,
      );
    }
  }

  return { ...describe(file, version, metadata, located, alignment, dataOffset, fileSize), metadataEnd, tensorTableEnd: cursor.position };
}

/**
 * What a file that is not GGUF seems to be, from its first bytes, without repeating them: the reason
 * reaches clients of server mode, who must not read a file back through error messages.
 */
function whatItIs(head: Buffer): string {
  if (head.length === 0) return 'it is empty';
  if (head.subarray(0, 4).equals(Buffer.from('PK\x03\x04', 'latin1'))) return 'it is a zip archive, such as a PyTorch checkpoint';
  if (head.length >= 9 && head[8] === 0x7b && head.readBigUInt64LE(0) < 100_000_000n) return 'it looks like a safetensors file';
  if (['lmgg', 'fmgg', 'tjgg'].includes(head.subarray(0, 4).toString('latin1'))) return 'it is an old GGML file';
  const text = head.toString('latin1').trimStart();
  if (text.startsWith('<')) return 'it looks like an HTML or XML page, perhaps an error page saved instead of the model';
  if (!head.includes(0) && /^[\t\n\r\x20-\x7e\x80-\xff]*$/.test(head.toString('latin1'))) return 'it is a text file';
  return 'it is binary data of another format';
}

async function checkMagic(file: string, handle: fs.FileHandle, fileSize: number): Promise<void> {
  const head = Buffer.alloc(Math.min(16, fileSize));
  if (head.length > 0) await handle.read(head, 0, head.length, 0);
  if (head.subarray(0, 4).toString('latin1') === GGUF_MAGIC) {
    if (fileSize < 4 + 4 + 8 + 8) throw bad(`${file} is truncated: it ends at byte ${fileSize}, inside the GGUF header`);
    return;
  }
  throw bad(
    `${file} is not a GGUF file (${whatItIs(head)}; a GGUF file starts with "GGUF")`,
    'Choose a .gguf model file. Other formats (safetensors, .bin) must be converted with llama.cpp first.',
  );
}

function checkVersion(file: string, version: number): void {
  if (SUPPORTED_GGUF_VERSIONS.includes(version)) return;
  const update = 'Convert the model again with a current llama.cpp, or use a build of the app that reads this version.';
  if (version === 1) throw bad(`${file} is GGUF version 1, which llama.cpp no longer reads`, 'Convert the model again with a current llama.cpp.');
  // A big-endian file's version reads byte-swapped on a little-endian machine: 3 becomes 0x03000000.
  const swapped = Buffer.alloc(4);
  swapped.writeUInt32BE(version);
  if (SUPPORTED_GGUF_VERSIONS.includes(swapped.readUInt32LE())) {
    throw bad(`${file} is a big-endian GGUF file, which this machine cannot use`, 'Use the little-endian version of the model.');
  }
  throw bad(`${file} is GGUF version ${version}; supported versions are ${SUPPORTED_GGUF_VERSIONS.join(' and ')}`, update);
}

/** u64 counts as numbers; anything beyond 2^53 is corrupt anyway and is reported by the count checks. */
function countOf(value: bigint): number {
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
}

function integer(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** Reads a string's u64 length; the caller makes sure the 8 bytes are in the window. */
function stringLength(cursor: HeaderCursor, file: string): number {
  const length = cursor.u64();
  if (length > BigInt(MAX_STRING_BYTES)) throw bad(`${file} has a corrupt header: a string of ${length} bytes at byte ${cursor.position - 8}`);
  return Number(length);
}

async function readString(cursor: HeaderCursor, file: string): Promise<string> {
  await cursor.need(8);
  const n = stringLength(cursor, file);
  await cursor.need(n);
  return cursor.utf8(n);
}

async function readValue(cursor: HeaderCursor, file: string, key: string, type: number, depth: number): Promise<GgufValue> {
  if (type === GgufValueType.STRING) return readString(cursor, file);
  if (type === GgufValueType.ARRAY) return readArray(cursor, file, key, depth);
  const size = FIXED_VALUE_BYTES[type];
  if (size === undefined) throw bad(`${file} has a corrupt header: '${key}' has unknown value type ${type}`);
  await cursor.need(size);
  return readScalar(cursor, type);
}

/**
 * Arrays are where the bulk of a header is (a vocabulary, its merges, token scores), so items are read
 * synchronously from the window and the cursor is only awaited when the window runs out.
 */
async function readArray(cursor: HeaderCursor, file: string, key: string, depth: number): Promise<GgufValue[]> {
  if (depth >= MAX_ARRAY_DEPTH) throw bad(`${file} has a corrupt header: '${key}' nests arrays ${depth + 1} deep`);
  await cursor.need(4 + 8);
  const itemType = cursor.u32();
  const length = countOf(cursor.u64());
  const itemBytes = FIXED_VALUE_BYTES[itemType];
  const minItemBytes = itemType === GgufValueType.STRING ? 8 : itemType === GgufValueType.ARRAY ? 12 : itemBytes;
  if (minItemBytes === undefined) throw bad(`${file} has a corrupt header: '${key}' is an array of unknown value type ${itemType}`);
  // Checked before allocating anything, so a corrupt length cannot make us build a billion-item array.
  if (length * minItemBytes > cursor.remaining) {
    throw bad(`${file} is truncated: '${key}' claims ${length} items but the file ends at byte ${cursor.fileSize}`);
  }
  const items: GgufValue[] = [];
  if (itemType === GgufValueType.STRING) {
    for (let i = 0; i < length; i++) {
      if (!cursor.has(8)) await cursor.need(8);
      const n = stringLength(cursor, file);
      if (!cursor.has(n)) await cursor.need(n);
      items.push(cursor.utf8(n));
    }
  } else if (itemType === GgufValueType.ARRAY) {
    for (let i = 0; i < length; i++) items.push(await readArray(cursor, file, key, depth + 1));
  } else if (itemBytes !== undefined) {
    for (let i = 0; i < length; i++) {
      if (!cursor.has(itemBytes)) await cursor.need(Math.min(length - i, 65_536) * itemBytes);
      items.push(readScalar(cursor, itemType));
    }
  }
  return items;
}

/** One fixed-size value; the caller has made its bytes readable. */
function readScalar(cursor: HeaderCursor, type: number): GgufValue {
  switch (type) {
    case GgufValueType.UINT8:
      return cursor.u8();
    case GgufValueType.INT8:
      return cursor.i8();
    case GgufValueType.UINT16:
      return cursor.u16();
    case GgufValueType.INT16:
      return cursor.i16();
    case GgufValueType.UINT32:
      return cursor.u32();
    case GgufValueType.INT32:
      return cursor.i32();
    case GgufValueType.FLOAT32:
      return cursor.f32();
    case GgufValueType.BOOL:
      return cursor.u8() !== 0;
    case GgufValueType.UINT64:
      return integer(cursor.u64());
    case GgufValueType.INT64:
      return integer(cursor.i64());
    default:
      return cursor.f64();
  }
}

function alignmentOf(file: string, metadata: Readonly<Record<string, GgufValue>>): number {
  const value = metadata[ALIGNMENT_KEY];
  if (value === undefined) return DEFAULT_ALIGNMENT;
  if (typeof value !== 'number' || value <= 0 || !Number.isInteger(value) || (value & (value - 1)) !== 0) {
    throw bad(`${file} has a corrupt header: ${ALIGNMENT_KEY} is ${String(value)}, not a power of two`);
  }
  return value;
}

function describe(
  file: string,
  version: number,
  metadata: Readonly<Record<string, GgufValue>>,
  tensors: readonly GgufTensorInfo[],
  alignment: number,
  dataOffset: number,
  fileSize: number,
): Omit<GgufInfo, 'metadataEnd' | 'tensorTableEnd'> {
  const text = (key: string): string | undefined => {
    const v = metadata[key];
    return typeof v === 'string' ? v : undefined;
  };
  const architecture = text('general.architecture');
  const contextLength = architecture === undefined ? undefined : metadata[`${architecture}.context_length`];
  return {
    file,
    version,
    metadata,
    tensors,
    alignment,
    dataOffset,
    fileSize,
    architecture,
    name: text('general.name'),
    fileKind: text('general.type'),
    parameterCount: tensors.reduce((sum, t) => sum + t.elements, 0),
    contextLength: typeof contextLength === 'number' ? contextLength : undefined,
    hasChatTemplate: typeof metadata['tokenizer.chat_template'] === 'string',
    quantization: quantizationOf(metadata, tensors),
  };
}

/**
 * `general.file_type` is what the quantizer was asked for and the only way to tell Q4_K_M from Q4_K_S; without it,
 * name the type that holds the most weights, counting only matrices (norms stay F32 in every quantization).
 */
function quantizationOf(metadata: Readonly<Record<string, GgufValue>>, tensors: readonly GgufTensorInfo[]): string | undefined {
  const fileType = metadata['general.file_type'];
  if (typeof fileType === 'number') {
    const name = LLAMA_FILE_TYPE_NAMES[fileType];
    if (name !== undefined) return name;
  }
  const weightByType = new Map<string, number>();
  const matrices = tensors.filter((t) => t.dims.length >= 2);
  for (const t of matrices.length > 0 ? matrices : tensors) weightByType.set(t.type, (weightByType.get(t.type) ?? 0) + t.elements);
  let best: string | undefined;
  let bestCount = -1;
  for (const [type, count] of weightByType) {
    if (count > bestCount) [best, bestCount] = [type, count];
  }
  return best;
}
