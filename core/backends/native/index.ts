/** The native CPU backend: NativeBackend (a C++ addon with SIMD GEMM and a thread pool), its status and its plugin registration. */
export { NativeBackend, NativeStorage, defaultThreads, type NativeBackendOptions, type NativeStats } from './backend.ts';
export { nativeStatus, type NativeStatus } from './addon.ts';
export { BufferPool, type BufferPoolStats } from './pool.ts';
export { register, type NativePluginOptions } from './plugin.ts';
