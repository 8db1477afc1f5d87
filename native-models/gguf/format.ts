/**
 * The GGUF container format as llama.cpp (ggml/include/gguf.h, ggml.h, llama.h) defines it: the constants the
 * reader needs to walk a header and the writer needs to produce one. Everything is little-endian.
 *
 * Layout: magic "GGUF", u32 version, u64 tensor count, u64 key/value count, the key/value pairs, the tensor
 * infos (name, u32 dimension count, u64 per dimension, u32 ggml type, u64 offset into the data section), then
 * padding up to the alignment and the tensor data, each tensor padded to the alignment as well.
 */

/** "GGUF" as the first four bytes of the file. */
export const GGUF_MAGIC = 'GGUF';

/** Version 1 (32-bit counts) was dropped by llama.cpp long ago; 2 and 3 share one layout (3 adds big-endian files,
 * which declare themselves by a byte-swapped version number). */
export const SUPPORTED_GGUF_VERSIONS: readonly number[] = [2, 3];
export const WRITTEN_GGUF_VERSION = 3;

/** Tensor data starts, and every tensor's data is padded, to this unless `general.alignment` says otherwise. */
export const DEFAULT_ALIGNMENT = 32;
export const ALIGNMENT_KEY = 'general.alignment';

/** ggml refuses tensor names of 64 bytes or more (GGML_MAX_NAME includes the terminating NUL). */
export const MAX_TENSOR_NAME_BYTES = 63;
/** ggml tensors have at most four dimensions (GGML_MAX_DIMS). */
export const MAX_TENSOR_DIMS = 4;

/** Type tags of metadata values (enum gguf_type). */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueTypeId = (typeof GgufValueType)[keyof typeof GgufValueType];

/** Bytes a scalar of each fixed-size metadata type takes; strings and arrays are variable. */
export const FIXED_VALUE_BYTES: Readonly<Partial<Record<number, number>>> = {
  [GgufValueType.UINT8]: 1,
  [GgufValueType.INT8]: 1,
  [GgufValueType.UINT16]: 2,
  [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4,
  [GgufValueType.INT32]: 4,
  [GgufValueType.FLOAT32]: 4,
  [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT64]: 8,
  [GgufValueType.INT64]: 8,
  [GgufValueType.FLOAT64]: 8,
};

export interface GgmlTypeInfo {
  readonly id: number;
  /** Upper-case, as people write quantizations: F32, Q4_K, IQ2_XS. */
  readonly name: string;
  /** Elements per block: a row's length must be a multiple of it. */
  readonly blockSize: number;
  readonly bytesPerBlock: number;
}

/**
 * Every tensor type a current GGUF file can hold (enum ggml_type), with the block geometry ggml_blck_size /
 * ggml_type_size report; the gaps (4, 5, 31–33, 36–38) are types llama.cpp removed from files.
 */
const GGML_TYPE_LIST: readonly GgmlTypeInfo[] = [
  { id: 0, name: 'F32', blockSize: 1, bytesPerBlock: 4 },
  { id: 1, name: 'F16', blockSize: 1, bytesPerBlock: 2 },
  { id: 2, name: 'Q4_0', blockSize: 32, bytesPerBlock: 18 },
  { id: 3, name: 'Q4_1', blockSize: 32, bytesPerBlock: 20 },
  { id: 6, name: 'Q5_0', blockSize: 32, bytesPerBlock: 22 },
  { id: 7, name: 'Q5_1', blockSize: 32, bytesPerBlock: 24 },
  { id: 8, name: 'Q8_0', blockSize: 32, bytesPerBlock: 34 },
  { id: 9, name: 'Q8_1', blockSize: 32, bytesPerBlock: 36 },
  { id: 10, name: 'Q2_K', blockSize: 256, bytesPerBlock: 84 },
  { id: 11, name: 'Q3_K', blockSize: 256, bytesPerBlock: 110 },
  { id: 12, name: 'Q4_K', blockSize: 256, bytesPerBlock: 144 },
  { id: 13, name: 'Q5_K', blockSize: 256, bytesPerBlock: 176 },
  { id: 14, name: 'Q6_K', blockSize: 256, bytesPerBlock: 210 },
  { id: 15, name: 'Q8_K', blockSize: 256, bytesPerBlock: 292 },
  { id: 16, name: 'IQ2_XXS', blockSize: 256, bytesPerBlock: 66 },
  { id: 17, name: 'IQ2_XS', blockSize: 256, bytesPerBlock: 74 },
  { id: 18, name: 'IQ3_XXS', blockSize: 256, bytesPerBlock: 98 },
  { id: 19, name: 'IQ1_S', blockSize: 256, bytesPerBlock: 50 },
  { id: 20, name: 'IQ4_NL', blockSize: 32, bytesPerBlock: 18 },
  { id: 21, name: 'IQ3_S', blockSize: 256, bytesPerBlock: 110 },
  { id: 22, name: 'IQ2_S', blockSize: 256, bytesPerBlock: 82 },
  { id: 23, name: 'IQ4_XS', blockSize: 256, bytesPerBlock: 136 },
  { id: 24, name: 'I8', blockSize: 1, bytesPerBlock: 1 },
  { id: 25, name: 'I16', blockSize: 1, bytesPerBlock: 2 },
  { id: 26, name: 'I32', blockSize: 1, bytesPerBlock: 4 },
  { id: 27, name: 'I64', blockSize: 1, bytesPerBlock: 8 },
  { id: 28, name: 'F64', blockSize: 1, bytesPerBlock: 8 },
  { id: 29, name: 'IQ1_M', blockSize: 256, bytesPerBlock: 56 },
  { id: 30, name: 'BF16', blockSize: 1, bytesPerBlock: 2 },
  { id: 34, name: 'TQ1_0', blockSize: 256, bytesPerBlock: 54 },
  { id: 35, name: 'TQ2_0', blockSize: 256, bytesPerBlock: 66 },
  { id: 39, name: 'MXFP4', blockSize: 32, bytesPerBlock: 17 },
  { id: 40, name: 'NVFP4', blockSize: 64, bytesPerBlock: 36 },
  { id: 41, name: 'Q1_0', blockSize: 128, bytesPerBlock: 18 },
  { id: 42, name: 'Q2_0', blockSize: 64, bytesPerBlock: 18 },
];

const GGML_TYPES_BY_ID = new Map(GGML_TYPE_LIST.map((t) => [t.id, t]));
const GGML_TYPES_BY_NAME = new Map(GGML_TYPE_LIST.map((t) => [t.name, t]));

export function ggmlTypeById(id: number): GgmlTypeInfo | undefined {
  return GGML_TYPES_BY_ID.get(id);
}

export function ggmlTypeByName(name: string): GgmlTypeInfo | undefined {
  return GGML_TYPES_BY_NAME.get(name.toUpperCase());
}

/**
 * Bytes a tensor of `elements` values takes, or undefined when the first dimension (a row) is not a whole number
 * of blocks — such a tensor cannot exist in a valid file. Rows are what ggml quantizes, so checking the row length
 * is enough: the other dimensions only repeat rows.
 */
export function tensorByteSize(type: GgmlTypeInfo, dims: readonly number[]): number | undefined {
  const rowLength = dims[0] ?? 1;
  if (rowLength % type.blockSize !== 0) return undefined;
  const elements = dims.reduce((product, d) => product * d, 1);
  return (elements / type.blockSize) * type.bytesPerBlock;
}

export function alignUp(offset: number, alignment: number): number {
  const rest = offset % alignment;
  return rest === 0 ? offset : offset + alignment - rest;
}

/**
 * `general.file_type` (enum llama_ftype) as the names quantization tools and model cards use. "Mostly" types keep
 * one-dimensional tensors (norms) in F32, so the name describes the big matrices.
 */
export const LLAMA_FILE_TYPE_NAMES: Readonly<Partial<Record<number, string>>> = {
  0: 'F32',
  1: 'F16',
  2: 'Q4_0',
  3: 'Q4_1',
  7: 'Q8_0',
  8: 'Q5_0',
  9: 'Q5_1',
  10: 'Q2_K',
  11: 'Q3_K_S',
  12: 'Q3_K_M',
  13: 'Q3_K_L',
  14: 'Q4_K_S',
  15: 'Q4_K_M',
  16: 'Q5_K_S',
  17: 'Q5_K_M',
  18: 'Q6_K',
  19: 'IQ2_XXS',
  20: 'IQ2_XS',
  21: 'Q2_K_S',
  22: 'IQ3_XS',
  23: 'IQ3_XXS',
  24: 'IQ1_S',
  25: 'IQ4_NL',
  26: 'IQ3_S',
  27: 'IQ3_M',
  28: 'IQ2_S',
  29: 'IQ2_M',
  30: 'IQ4_XS',
  31: 'IQ1_M',
  32: 'BF16',
  36: 'TQ1_0',
  37: 'TQ2_0',
  38: 'MXFP4_MOE',
  39: 'NVFP4',
  40: 'Q1_0',
  41: 'Q2_0',
};

/** The `general.file_type` value a file whose big matrices are all of one plain type declares. */
export const LLAMA_FILE_TYPE_FOR_TENSOR_TYPE: Readonly<Record<'F32' | 'F16' | 'BF16' | 'Q8_0' | 'Q4_0', number>> = { F32: 0, F16: 1, BF16: 32, Q8_0: 7, Q4_0: 2 };
