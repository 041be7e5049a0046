/**
 * Errors raised by the core. Each names the op (or option) at fault so a message read in a
 * stack trace tells the user what to fix without opening the source.
 */
export class TensorError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Shapes that do not fit the op: always names the op and every shape involved. */
export class ShapeError extends TensorError {}

/** An argument whose value the op cannot use (bad axis, negative probability, NaN eps...). */
export class ArgumentError extends TensorError {}

/** Data of a type a Float32 tensor cannot hold (strings, bigint, ragged nesting...). */
export class DtypeError extends TensorError {}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
