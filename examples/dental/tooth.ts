/**
 * Parametric tooth crowns. Each crown is a ring mesh in the tooth's own frame (x along the
 * arch, y toward the lips/cheek, z toward the biting plane; z = 0 at the gum line): a side
 * wall whose superellipse cross-section bulges above the gum line and tapers toward the
 * biting edge, closed by an occlusal cap carrying the type's relief. What tells the types
 * apart is that taper and relief:
 *  - incisor: the lip-tongue thickness thins to a flat, straight cutting edge (a chisel);
 *  - canine: both axes taper under one tall pointed cusp;
 *  - premolar: two cusps (cheek side taller) with a groove between them;
 *  - molar: a squarish crown with four cusps and a cross-shaped fissure.
 * The part below z = 0 is the neck, hidden inside the gum.
 */
import { gridMesh, orientOutward, type Mesh } from './mesh.ts';

export type ToothKind = 'incisor' | 'canine' | 'premolar' | 'molar';

/** One cusp of the occlusal relief, in coordinates normalised to the crown's half axes. */
export interface Cusp {
  x: number;
  y: number;
  height: number;
  spread: number;
}

export interface ToothShape {
  kind: ToothKind;
  /** Mesio-distal width (mm): the size along the arch. */
  width: number;
  /** Labio-lingual depth (mm). */
  depth: number;
  /** Height of the side wall above the gum line (mm). */
  wallHeight: number;
  /** Superellipse exponent of the cross-section: 2 is an ellipse, larger is squarer. */
  exponent: number;
  /** Cross-section scale at the top of the wall relative to the widest point, per axis. */
  taperWidth: number;
  taperDepth: number;
  /** Dome height of the occlusal cap (mm) before cusps. */
  capDome: number;
  cusps: Cusp[];
  /** Depth of the central fissure(s) in mm (0 for none); `crossFissure` adds the mesio-distal one. */
  fissureDepth: number;
  crossFissure: boolean;
}

/** Typical crown dimensions (mm) by FDI position 1..7 (central incisor .. second molar). */
const UPPER: ReadonlyArray<[ToothKind, number, number, number]> = [
  ['incisor', 8.6, 7.0, 9.6],
  ['incisor', 6.6, 6.2, 8.4],
  ['canine', 7.6, 8.0, 8.6],
  ['premolar', 7.0, 9.0, 6.4],
  ['premolar', 6.6, 9.0, 6.0],
  ['molar', 10.2, 11.0, 5.2],
  ['molar', 9.2, 10.6, 5.0],
];
const LOWER: ReadonlyArray<[ToothKind, number, number, number]> = [
  ['incisor', 5.2, 5.8, 8.4],
  ['incisor', 5.8, 6.0, 8.6],
  ['canine', 6.8, 7.4, 9.0],
  ['premolar', 7.0, 7.6, 6.6],
  ['premolar', 7.2, 8.0, 6.0],
  ['molar', 11.0, 10.2, 5.2],
  ['molar', 10.4, 9.8, 5.0],
];

/** The crown shape of FDI position `position` (1..7) of a jaw, scaled by `size`. */
export function toothShape(jaw: 'upper' | 'lower', position: number, size: number): ToothShape {
  const row = (jaw === 'upper' ? UPPER : LOWER)[position - 1];
  if (!row) throw new RangeError(`toothShape: tooth position must be 1..7, got ${position}`);
  const [kind, width, depth, wallHeight] = row;
  const base = { kind, width: width * size, depth: depth * size, wallHeight: wallHeight * size };
  switch (kind) {
    case 'incisor':
      return { ...base, exponent: 2.3, taperWidth: 1.04, taperDepth: 0.22, capDome: 0.35 * size, cusps: [], fissureDepth: 0, crossFissure: false };
    case 'canine':
      return {
        ...base, exponent: 2.1, taperWidth: 0.72, taperDepth: 0.55, capDome: 0.6 * size,
        cusps: [{ x: 0, y: 0.1, height: 1.7 * size, spread: 0.8 }], fissureDepth: 0, crossFissure: false,
      };
    case 'premolar':
      return {
        ...base, exponent: 2.4, taperWidth: 0.9, taperDepth: 0.82, capDome: 0.4 * size,
        cusps: [
          { x: 0, y: 0.42, height: 2.0 * size, spread: 0.36 },
          { x: 0, y: -0.45, height: 1.4 * size, spread: 0.34 },
        ],
        fissureDepth: 0.7 * size, crossFissure: false,
      };
    case 'molar':
      return {
        ...base, exponent: 3.0, taperWidth: 0.9, taperDepth: 0.86, capDome: 0.3 * size,
        cusps: [
          { x: -0.45, y: 0.45, height: 1.6 * size, spread: 0.3 },
          { x: 0.45, y: 0.45, height: 1.5 * size, spread: 0.3 },
          { x: -0.45, y: -0.45, height: 1.7 * size, spread: 0.32 },
          { x: 0.45, y: -0.45, height: 1.3 * size, spread: 0.3 },
        ],
        fissureDepth: 0.8 * size, crossFissure: true,
      };
  }
}

const NECK = 2.5; // mm of neck below the gum line
const WALL_ROWS = 10;
const CAP_ROWS = 8;

/** Cross-section scale of the wall at relative height f (0 = gum line, 1 = wall top). */
function wallProfile(f: number, taper: number): number {
  if (f < 0) return 0.8 + 0.05 * f; // the neck narrows a little toward the root
  if (f < 0.35) return 0.8 + 0.2 * Math.sin((f / 0.35) * (Math.PI / 2)); // bulge up to the height of contour
  return 1 + (taper - 1) * Math.pow((f - 0.35) / 0.65, 1.3);
}

function smoothstep(e0: number, e1: number, x: number): number {
  const t = Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
}

/** Occlusal relief (mm) at normalised crown coordinates (xn, yn). */
function relief(shape: ToothShape, xn: number, yn: number): number {
  let h = 0;
  for (const c of shape.cusps) {
    const dx = xn - c.x, dy = yn - c.y;
    const d2 = (dx * dx + dy * dy) / (c.spread * c.spread);
    h += shape.kind === 'canine' ? c.height * Math.pow(Math.max(0, 1 - Math.sqrt(d2) * 0.8), 1.4) : c.height * Math.exp(-d2);
  }
  if (shape.fissureDepth > 0) {
    const inside = 1 - smoothstep(0.55, 0.85, Math.max(Math.abs(xn), Math.abs(yn)));
    let groove = Math.exp(-(yn * yn) / 0.012);
    if (shape.crossFissure) groove = Math.max(groove, Math.exp(-(xn * xn) / 0.012));
    h -= shape.fissureDepth * groove * inside;
  }
  return h;
}

/**
 * The crown mesh of `shape` in the tooth frame, every triangle tagged `partId`. Each vertex's
 * attribute is its height on the crown (0 at the gum line, 1 at the highest point), which the
 * shader uses for the dentin-to-translucent-enamel gradient.
 */
export function buildToothMesh(shape: ToothShape, partId: number, segments = 28): Mesh {
  const a0 = shape.width / 2, b0 = shape.depth / 2, hs = shape.wallHeight;
  const e = 2 / shape.exponent;
  const dirs: Array<[number, number]> = [];
  for (let i = 0; i < segments; i++) {
    const u = (i / segments) * 2 * Math.PI;
    const c = Math.cos(u), s = Math.sin(u);
    dirs.push([Math.sign(c) * Math.pow(Math.abs(c), e), Math.sign(s) * Math.pow(Math.abs(s), e)]);
  }
  const aTop = a0 * wallProfile(1, shape.taperWidth), bTop = b0 * wallProfile(1, shape.taperDepth);
  const rows = WALL_ROWS + CAP_ROWS;
  const mesh = gridMesh(segments, rows, true, partId, (i, j) => {
    const [cu, su] = dirs[i]!;
    if (j < WALL_ROWS) {
      const z = -NECK + ((hs + NECK) * j) / (WALL_ROWS - 1);
      const f = z / hs;
      return [a0 * wallProfile(f, shape.taperWidth) * cu, b0 * wallProfile(f, shape.taperDepth) * su, z, 0];
    }
    // cap rows: w runs from the wall's top ring (0) to the centre (1)
    const w = (j - WALL_ROWS + 1) / CAP_ROWS;
    const r = 1 - w;
    const xn = r * cu, yn = r * su;
    const lift = (shape.capDome * (1 - r * r) + relief(shape, xn, yn)) * smoothstep(0, 0.35, w);
    return [aTop * xn, bTop * yn, hs + lift, 0];
  });
  orientOutward(mesh, [0, 0, hs * 0.4]);
  let top = 0;
  for (let v = 2; v < mesh.positions.length; v += 3) top = Math.max(top, mesh.positions[v]!);
  for (let v = 0; v < mesh.attr.length; v++) mesh.attr[v] = Math.max(0, mesh.positions[v * 3 + 2]!) / top;
  return mesh;
}
