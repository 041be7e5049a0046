/** Every op, one import away. Each file holds a family's forward kernels calls and gradient rules. */
export * from './binary.ts';
export * from './concat.ts';
export * from './conv.ts';
export * from './creation.ts';
export * from './custom.ts';
export * from './dropout.ts';
export * from './embedding.ts';
export * from './loss.ts';
export * from './matmul.ts';
export * from './norm.ts';
export * from './pool.ts';
export * from './reduce.ts';
export * from './softmax.ts';
export * from './unary.ts';
export * from './views.ts';
