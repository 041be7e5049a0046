/** Plain float64 loops for a 2-layer tanh MLP with MSE loss, and the optimiser updates by hand. */
export interface MlpWeights {
  w1: Float64Array; // [hidden, inp]
  b1: Float64Array; // [hidden]
  w2: Float64Array; // [out, hidden]
  b2: Float64Array; // [out]
}

export interface MlpDims {
  n: number;
  inp: number;
  hidden: number;
  out: number;
}

/** Loss and gradients of mean((tanh(x W1^T + b1) W2^T + b2 - y)^2). */
export function mlpLossAndGrads(w: MlpWeights, x: Float64Array, y: Float64Array, d: MlpDims): { loss: number; grads: MlpWeights } {
  const { n, inp, hidden, out } = d;
  const h = new Float64Array(n * hidden);
  const pred = new Float64Array(n * out);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < hidden; j++) {
      let s = w.b1[j]!;
      for (let i = 0; i < inp; i++) s += x[r * inp + i]! * w.w1[j * inp + i]!;
      h[r * hidden + j] = Math.tanh(s);
    }
    for (let o = 0; o < out; o++) {
      let s = w.b2[o]!;
      for (let j = 0; j < hidden; j++) s += h[r * hidden + j]! * w.w2[o * hidden + j]!;
      pred[r * out + o] = s;
    }
  }
  let loss = 0;
  const dy = new Float64Array(n * out);
  for (let k = 0; k < n * out; k++) {
    const e = pred[k]! - y[k]!;
    loss += (e * e) / (n * out);
    dy[k] = (2 * e) / (n * out);
  }
  const g: MlpWeights = { w1: new Float64Array(hidden * inp), b1: new Float64Array(hidden), w2: new Float64Array(out * hidden), b2: new Float64Array(out) };
  for (let r = 0; r < n; r++) {
    const dz = new Float64Array(hidden);
    for (let o = 0; o < out; o++) {
      const gy = dy[r * out + o]!;
      g.b2[o] += gy;
      for (let j = 0; j < hidden; j++) {
        g.w2[o * hidden + j] += gy * h[r * hidden + j]!;
        dz[j] += gy * w.w2[o * hidden + j]!;
      }
    }
    for (let j = 0; j < hidden; j++) {
      const hj = h[r * hidden + j]!;
      const gz = dz[j]! * (1 - hj * hj);
      g.b1[j] += gz;
      for (let i = 0; i < inp; i++) g.w1[j * inp + i] += gz * x[r * inp + i]!;
    }
  }
  return { loss, grads: g };
}

export interface AdamWByHand {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** torch.optim.AdamW's update, written out: decay, moments, bias correction. */
export function adamwByHand(
  p: Float64Array, g: Float64Array, m: Float64Array, v: Float64Array, step: number, h: AdamWByHand,
): void {
  const c1 = 1 - h.beta1 ** step;
  const c2 = 1 - h.beta2 ** step;
  for (let i = 0; i < p.length; i++) {
    p[i] = p[i]! * (1 - h.lr * h.weightDecay);
    m[i] = h.beta1 * m[i]! + (1 - h.beta1) * g[i]!;
    v[i] = h.beta2 * v[i]! + (1 - h.beta2) * g[i]! * g[i]!;
    p[i] = p[i]! - (h.lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + h.eps);
  }
}
