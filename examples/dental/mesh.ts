/**
 * Triangle meshes for the dental scene: flat arrays (positions, normals, one shading
 * attribute per vertex, one part id per triangle) so the rasteriser walks them without
 * allocating. Normals are smoothed per vertex from area-weighted face normals and oriented
 * outward; they are computed in the part's own frame and then carried by the same rigid
 * (or mirrored) transform as the positions, which keeps them outward after a mirror.
 */

export type Vec3 = [number, number, number];

export function sub(a: Vec3, b: Vec3): Vec3 {
  return [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
}
export function add(a: Vec3, b: Vec3): Vec3 {
  return [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
}
export function scale(a: Vec3, s: number): Vec3 {
  return [a[0] * s, a[1] * s, a[2] * s];
}
export function dot(a: Vec3, b: Vec3): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}
export function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}
export function normalize(a: Vec3): Vec3 {
  const l = Math.hypot(a[0], a[1], a[2]);
  return l > 0 ? [a[0] / l, a[1] / l, a[2] / l] : [0, 0, 1];
}

/** A 3x3 matrix, row-major: the linear part of a part's placement (rotation, maybe a mirror). */
export type Mat3 = [number, number, number, number, number, number, number, number, number];

export function mat3FromColumns(c0: Vec3, c1: Vec3, c2: Vec3): Mat3 {
  return [c0[0], c1[0], c2[0], c0[1], c1[1], c2[1], c0[2], c1[2], c2[2]];
}
export function mat3Mul(a: Mat3, b: Mat3): Mat3 {
  const r = new Array<number>(9).fill(0) as Mat3;
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      r[i * 3 + j] = a[i * 3]! * b[j]! + a[i * 3 + 1]! * b[3 + j]! + a[i * 3 + 2]! * b[6 + j]!;
    }
  }
  return r;
}
export function rotationX(angle: number): Mat3 {
  const c = Math.cos(angle), s = Math.sin(angle);
  return [1, 0, 0, 0, c, -s, 0, s, c];
}
export function rotationY(angle: number): Mat3 {
  const c = Math.cos(angle), s = Math.sin(angle);
  return [c, 0, s, 0, 1, 0, -s, 0, c];
}
export function rotationZ(angle: number): Mat3 {
  const c = Math.cos(angle), s = Math.sin(angle);
  return [c, -s, 0, s, c, 0, 0, 0, 1];
}

/** Indexed triangle mesh; `attr` is a per-vertex shading parameter (crown height 0..1 on teeth). */
export interface Mesh {
  positions: Float32Array;
  normals: Float32Array;
  attr: Float32Array;
  indices: Uint32Array;
  /** Part id of each triangle (see scene.ts: 0 background, 1 gum, 2 palate, 10+ teeth). */
  partIds: Uint16Array;
}

/**
 * A grid mesh over (u, v) rings: `rows` rings of `cols` vertices each, closed around u when
 * `wrap` is set. `point(i, j)` returns [x, y, z, attr] of ring j, vertex i.
 */
export function gridMesh(
  cols: number,
  rows: number,
  wrap: boolean,
  partId: number,
  point: (i: number, j: number) => [number, number, number, number],
): Mesh {
  const n = cols * rows;
  const positions = new Float32Array(n * 3);
  const attr = new Float32Array(n);
  for (let j = 0; j < rows; j++) {
    for (let i = 0; i < cols; i++) {
      const p = point(i, j);
      const k = j * cols + i;
      positions[k * 3] = p[0];
      positions[k * 3 + 1] = p[1];
      positions[k * 3 + 2] = p[2];
      attr[k] = p[3];
    }
  }
  const quadCols = wrap ? cols : cols - 1;
  const indices = new Uint32Array(quadCols * (rows - 1) * 6);
  let t = 0;
  for (let j = 0; j < rows - 1; j++) {
    for (let i = 0; i < quadCols; i++) {
      const i1 = (i + 1) % cols;
      const a = j * cols + i, b = j * cols + i1, c = (j + 1) * cols + i1, d = (j + 1) * cols + i;
      indices[t++] = a; indices[t++] = b; indices[t++] = c;
      indices[t++] = a; indices[t++] = c; indices[t++] = d;
    }
  }
  const mesh: Mesh = {
    positions,
    normals: new Float32Array(n * 3),
    attr,
    indices,
    partIds: new Uint16Array(indices.length / 3).fill(partId),
  };
  computeNormals(mesh);
  return mesh;
}

/** Smooth vertex normals from area-weighted face normals. */
export function computeNormals(mesh: Mesh): void {
  const { positions: p, normals: nrm, indices } = mesh;
  nrm.fill(0);
  for (let t = 0; t < indices.length; t += 3) {
    const a = indices[t]! * 3, b = indices[t + 1]! * 3, c = indices[t + 2]! * 3;
    const e1x = p[b]! - p[a]!, e1y = p[b + 1]! - p[a + 1]!, e1z = p[b + 2]! - p[a + 2]!;
    const e2x = p[c]! - p[a]!, e2y = p[c + 1]! - p[a + 1]!, e2z = p[c + 2]! - p[a + 2]!;
    const nx = e1y * e2z - e1z * e2y, ny = e1z * e2x - e1x * e2z, nz = e1x * e2y - e1y * e2x;
    for (const v of [a, b, c]) {
      nrm[v] = nrm[v]! + nx;
      nrm[v + 1] = nrm[v + 1]! + ny;
      nrm[v + 2] = nrm[v + 2]! + nz;
    }
  }
  for (let v = 0; v < nrm.length; v += 3) {
    const l = Math.hypot(nrm[v]!, nrm[v + 1]!, nrm[v + 2]!) || 1;
    nrm[v] = nrm[v]! / l;
    nrm[v + 1] = nrm[v + 1]! / l;
    nrm[v + 2] = nrm[v + 2]! / l;
  }
}

/**
 * Flips every normal (and the winding) when most normals point toward `inside`, so a closed-ish
 * part's normals face outward whatever way its grid was parametrised.
 */
export function orientOutward(mesh: Mesh, inside: Vec3): void {
  const { positions: p, normals: n } = mesh;
  let score = 0;
  for (let v = 0; v < p.length; v += 3) {
    score += (p[v]! - inside[0]) * n[v]! + (p[v + 1]! - inside[1]) * n[v + 1]! + (p[v + 2]! - inside[2]) * n[v + 2]!;
  }
  if (score >= 0) return;
  for (let v = 0; v < n.length; v++) n[v] = -n[v]!;
  const idx = mesh.indices;
  for (let t = 0; t < idx.length; t += 3) {
    const tmp = idx[t + 1]!;
    idx[t + 1] = idx[t + 2]!;
    idx[t + 2] = tmp;
  }
}

/** Applies x' = M x + offset to positions and M to normals (M orthogonal: rotation or mirror). */
export function transformMesh(mesh: Mesh, m: Mat3, offset: Vec3): void {
  const { positions: p, normals: n } = mesh;
  for (let v = 0; v < p.length; v += 3) {
    const x = p[v]!, y = p[v + 1]!, z = p[v + 2]!;
    p[v] = m[0] * x + m[1] * y + m[2] * z + offset[0];
    p[v + 1] = m[3] * x + m[4] * y + m[5] * z + offset[1];
    p[v + 2] = m[6] * x + m[7] * y + m[8] * z + offset[2];
    const nx = n[v]!, ny = n[v + 1]!, nz = n[v + 2]!;
    n[v] = m[0] * nx + m[1] * ny + m[2] * nz;
    n[v + 1] = m[3] * nx + m[4] * ny + m[5] * nz;
    n[v + 2] = m[6] * nx + m[7] * ny + m[8] * nz;
  }
}

/** Concatenates meshes into one (indices shifted). */
export function mergeMeshes(meshes: readonly Mesh[]): Mesh {
  let nv = 0, nt = 0;
  for (const m of meshes) {
    nv += m.attr.length;
    nt += m.partIds.length;
  }
  const out: Mesh = {
    positions: new Float32Array(nv * 3),
    normals: new Float32Array(nv * 3),
    attr: new Float32Array(nv),
    indices: new Uint32Array(nt * 3),
    partIds: new Uint16Array(nt),
  };
  let vo = 0, to = 0;
  for (const m of meshes) {
    out.positions.set(m.positions, vo * 3);
    out.normals.set(m.normals, vo * 3);
    out.attr.set(m.attr, vo);
    for (let i = 0; i < m.indices.length; i++) out.indices[to * 3 + i] = m.indices[i]! + vo;
    out.partIds.set(m.partIds, to);
    vo += m.attr.length;
    to += m.partIds.length;
  }
  return out;
}
