/** File formats: safetensors, and module / optimiser checkpoints built on it. */
export {
  SafetensorsError, MAX_HEADER_BYTES, parseSafetensorsHeader, readSafetensorsHeader, decodeSafetensors, encodeSafetensors, saveSafetensors, loadSafetensors,
  type SafetensorsHeader, type DecodeOptions, type ValuePolicy, type TensorEntry, type DecodedTensor, type TensorLike, type EncodeOptions, type LoadOptions, type ReadableDtype, type WritableDtype,
} from './safetensors.ts';
export { writeFileAtomic } from './atomic.ts';
export { saveModule, loadModule, saveOptimizer, loadOptimizer, type OptimizerFileOptions } from './checkpoint.ts';
export { halfToFloat, floatToHalf, bf16ToFloat, floatToBf16 } from './half.ts';
export { parseStrictJson, JsonSyntaxError, type JsonValue } from './strict-json.ts';
export { removeStaleTemps, syncDir, type AtomicWriteOptions } from './atomic.ts';
