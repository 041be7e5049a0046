/**
 * Reverse-mode autodiff on a tape. Every op that produces a tensor from inputs requiring
 * grad attaches a GradNode holding its inputs and its gradient rule (written next to the
 * op's forward in core/ops). `backward()` walks the nodes in reverse topological order,
 * sums gradients over fan-out, accumulates into the leaves' `.grad` and then frees the
 * graph (the nodes drop their inputs and saved tensors) unless asked to retain it.
 */
import { ArgumentError, ShapeError, TensorError, fmtShape } from './errors.ts';
import { sameShape } from './shape.ts';
import type { Tensor } from './tensor.ts';

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording a graph (torch.no_grad). Synchronous: do not await inside. */
export function noGrad<T>(fn: () => T): T {
  return withGradEnabled(false, fn);
}

/** Runs fn with recording forced on or off (torch.set_grad_enabled as a scope). */
export function withGradEnabled<T>(enabled: boolean, fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = enabled;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Gradient of the op's output -> gradient of each input (null where none is needed). */
export type GradRule = (gy: Tensor) => readonly (Tensor | null)[];

export class GradNode {
  constructor(
    readonly name: string,
    private inputsList: readonly Tensor[],
    private rule: GradRule | null,
  ) {}

  get inputs(): readonly Tensor[] {
    return this.inputsList;
  }

  apply(gy: Tensor): readonly (Tensor | null)[] {
    this.checkAlive();
    return this.rule!(gy);
  }

  /** Throws when backward already went through this node and freed it. */
  checkAlive(): void {
    if (!this.rule) {
      throw new TensorError(
        `backward: trying to go through the graph of '${this.name}' a second time; its saved tensors were freed ` +
          '(pass { retainGraph: true } to the first backward() to keep them)',
      );
    }
  }

  /** Drops the rule (and with it the saved tensors) and the inputs. */
  release(): void {
    this.rule = null;
    this.inputsList = [];
  }
}

/**
 * Records `out` as the result of op `name` applied to `inputs`. The rule runs under
 * noGrad during backward and must return one gradient (or null) per input, each of the
 * input's shape.
 */
export function attach(out: Tensor, name: string, inputs: readonly Tensor[], rule: GradRule): Tensor {
  if (!gradEnabled) return out;
  for (let i = 0; i < inputs.length; i++) {
    if (inputs[i]!.requiresGrad) {
      out._setGradFn(new GradNode(name, inputs, rule));
      break;
    }
  }
  return out;
}

export interface BackwardOptions {
  /** Keep the graph so backward can run through it again. */
  retainGraph?: boolean;
}

export function runBackward(root: Tensor, gradient: Tensor | undefined, options: BackwardOptions = {}): void {
  if (!root.requiresGrad) {
    throw new ArgumentError('backward: this tensor does not require grad (no tensor it was computed from has requiresGrad = true)');
  }
  let seed = gradient;
  if (!seed) {
    if (root.size !== 1) {
      throw new ShapeError(
        `backward: a gradient can be created implicitly only for a single-element output, got shape ${fmtShape(root.shape)}; pass one`,
      );
    }
    seed = root.onesLike();
  } else if (!sameShape(seed.shape, root.shape)) {
    throw new ShapeError(`backward: gradient shape ${fmtShape(seed.shape)} does not match the output shape ${fmtShape(root.shape)}`);
  } else if (seed.backend !== root.backend) {
    throw new ArgumentError(`backward: the gradient lives on backend '${seed.backend.name}', the output on '${root.backend.name}'; move one first`);
  }

  const order = topologicalOrder(root);
  const grads = new Map<Tensor, Tensor>([[root, seed.detach()]]);
  withGradEnabled(false, () => {
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k]!;
      const gy = grads.get(t);
      if (!gy) continue;
      grads.delete(t);
      const node = t.gradFn;
      if (!node || t._retainsGrad) t._accumulateGrad(gy);
      if (!node) continue;
      const inputGrads = node.apply(gy);
      const inputs = node.inputs;
      for (let i = 0; i < inputs.length; i++) {
        const input = inputs[i]!;
        const g = inputGrads[i];
        if (!g || !input.requiresGrad) continue;
        if (!sameShape(g.shape, input.shape)) {
          throw new ShapeError(
            `backward: the gradient rule of '${node.name}' returned shape ${fmtShape(g.shape)} for input ${i} of shape ${fmtShape(input.shape)}`,
          );
        }
        const prev = grads.get(input);
        grads.set(input, prev ? prev.add(g) : g);
      }
    }
  });
  if (!options.retainGraph) for (const t of order) t.gradFn?.release();
}

/** Tensors reachable from root through grad-requiring edges, inputs before outputs. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Two parallel stacks (no object per entry): a tensor, and whether its inputs were pushed.
  const stack: Tensor[] = [root];
  const expanded: boolean[] = [false];
  while (stack.length) {
    const t = stack.pop()!;
    if (expanded.pop()) {
      order.push(t);
      continue;
    }
    if (seen.has(t)) continue;
    seen.add(t);
    stack.push(t);
    expanded.push(true);
    const node = t.gradFn;
    if (!node) continue;
    node.checkAlive(); // before any gradient is accumulated
    const inputs = node.inputs;
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i]!;
      if (input.requiresGrad && !seen.has(input)) {
        stack.push(input);
        expanded.push(false);
      }
    }
  }
  return order;
}
