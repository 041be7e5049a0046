/**
 * One sample's scene, drawn deterministically from (seed, index): which jaw and view, the dental
 * arch (shape, tooth sizes, rotations, spacing, crowding, a missing tooth now and then), the
 * colours, the clinical light rig and the camera. `sampleScene` only draws numbers; `buildJaw`
 * turns them into one mesh (teeth on a gum horseshoe, a palate for the upper jaw).
 */
import { Generator } from '../../core/random.ts';
import {
  add, cross, mat3FromColumns, mat3Mul, mergeMeshes, normalize, rotationX, rotationY, rotationZ, scale,
  gridMesh, orientOutward, transformMesh, type Mesh, type Vec3,
} from './mesh.ts';
import { buildToothMesh, toothShape, type ToothKind } from './tooth.ts';

export const JAWS = ['upper', 'lower'] as const;
export const VIEWS = ['top', 'front', 'bottom', 'left', 'right'] as const;
export type Jaw = (typeof JAWS)[number];
export type View = (typeof VIEWS)[number];

/** Part ids in the rasterised id buffer: teeth use their FDI number (11..47). */
export const PART_BACKGROUND = 0;
export const PART_GUM = 1;
export const PART_PALATE = 2;

export interface ToothSpec {
  fdi: number;
  position: number; // 1 (central incisor) .. 7 (second molar)
  kind: ToothKind;
  side: -1 | 1; // -1: patient's right (x < 0), +1: patient's left
  size: number;
  /** Rotation about the tooth's long axis, labial tip, mesial tip (radians). */
  rotation: number;
  labialTip: number;
  mesialTip: number;
  /** Shift off the arch line toward the lips (mm, negative: toward the tongue). */
  labialShift: number;
  /** Gap to the next tooth toward the back (mm; negative overlaps: crowding). */
  gapAfter: number;
  missing: boolean;
  /** Per-tooth shade: 0 whiter .. 1 yellower. */
  shade: number;
}

export interface Light {
  /** Unit direction from the scene toward the light, in camera space (x right, y up, z toward the viewer). */
  direction: Vec3;
  intensity: number;
  color: Vec3;
}

export interface LightRig {
  key: Light;
  fill: Light;
  /** A ring light around the lens: it lights along the view direction. */
  ring: Light;
  ambient: number;
}

export interface SceneSpec {
  seed: number;
  index: number;
  jaw: Jaw;
  view: View;
  teeth: ToothSpec[];
  /** Arch form: y = depth * |x|^exponent on x in [-1, 1] before scaling to the teeth. */
  archDepth: number;
  archExponent: number;
  /** Camera: azimuth and elevation (radians) around the view's base direction, zoom, pan (fraction of frame). */
  azimuth: number;
  elevation: number;
  roll: number;
  zoom: number;
  panX: number;
  panY: number;
  lights: LightRig;
  enamel: Vec3;
  dentin: Vec3;
  gum: Vec3;
  background: Vec3;
}

/** Combines seed and sample index into one well-mixed 32-bit seed, so samples are independent of order. */
export function sampleSeed(seed: number, index: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.floor(seed / 2 ** 32);
  h = Math.imul(h ^ (h >>> 13) ^ index, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ Math.imul(index, 0x27d4eb2f), 0x165667b1);
  return (h ^ (h >>> 15)) >>> 0;
}

/** Jaw and view of sample `index`: they cycle, so every combination is present in any 10 consecutive samples. */
export function jawViewOf(index: number): { jaw: Jaw; view: View } {
  const k = index % (JAWS.length * VIEWS.length);
  return { jaw: JAWS[Math.floor(k / VIEWS.length)]!, view: VIEWS[k % VIEWS.length]! };
}

function uniform(g: Generator, lo: number, hi: number): number {
  return lo + (hi - lo) * g.uniform();
}

function fdiOf(jaw: Jaw, side: -1 | 1, position: number): number {
  const quadrant = jaw === 'upper' ? (side < 0 ? 1 : 2) : side > 0 ? 3 : 4;
  return quadrant * 10 + position;
}

export function sampleScene(seed: number, index: number): SceneSpec {
  const g = new Generator(sampleSeed(seed, index));
  const { jaw, view } = jawViewOf(index);
  const crowding = g.uniform() < 0.35 ? uniform(g, 0.3, 1) : uniform(g, 0, 0.25);
  const size = uniform(g, 0.92, 1.08);
  const missingCount = g.uniform() < 0.22 ? 1 : 0;
  const missingAt = missingCount ? { side: (g.uniform() < 0.5 ? -1 : 1) as -1 | 1, position: g.int(2, 8) } : null;
  const teeth: ToothSpec[] = [];
  for (const side of [-1, 1] as const) {
    for (let position = 1; position <= 7; position++) {
      const kind = toothShape(jaw, position, 1).kind;
      const front = position <= 3;
      teeth.push({
        fdi: fdiOf(jaw, side, position),
        position,
        kind,
        side,
        size: size * uniform(g, 0.95, 1.05),
        rotation: g.normal() * (0.05 + 0.25 * crowding * (front ? 1 : 0.4)),
        labialTip: (kind === 'incisor' ? (jaw === 'upper' ? 0.22 : 0.1) : 0) + g.normal() * 0.04,
        mesialTip: g.normal() * 0.04,
        labialShift: g.normal() * 0.15 + (front ? g.normal() * 1.0 * crowding : 0),
        gapAfter: Math.max(-0.9, Math.min(1.2, 0.12 + g.normal() * 0.15 - crowding * uniform(g, 0, 0.7) + (crowding < 0.1 && g.uniform() < 0.1 ? uniform(g, 0.3, 1.2) : 0))),
        missing: missingAt !== null && missingAt.side === side && missingAt.position === position,
        shade: Math.min(1, Math.max(0, 0.35 + g.normal() * 0.12 + (kind === 'canine' ? 0.15 : 0))),
      });
    }
  }
  // Light rig in camera space: key from above-left or above-right, fill opposite and weaker, a ring light.
  const keySide = g.uniform() < 0.5 ? -1 : 1;
  const keyAz = keySide * uniform(g, 0.35, 1.0), keyEl = uniform(g, 0.35, 1.0);
  const fillAz = -keySide * uniform(g, 0.4, 1.2), fillEl = uniform(g, -0.3, 0.5);
  const dirFrom = (az: number, el: number): Vec3 => normalize([Math.sin(az) * Math.cos(el), Math.sin(el), Math.cos(az) * Math.cos(el)]);
  const warm = uniform(g, -1, 1);
  const lights: LightRig = {
    key: { direction: dirFrom(keyAz, keyEl), intensity: uniform(g, 0.75, 1.15), color: [1, 0.97 + 0.03 * warm, 0.93 + 0.06 * warm] },
    fill: { direction: dirFrom(fillAz, fillEl), intensity: uniform(g, 0.15, 0.4), color: [0.92, 0.96, 1] },
    ring: { direction: [0, 0, 1], intensity: uniform(g, 0.1, 0.45), color: [1, 1, 1] },
    ambient: uniform(g, 0.06, 0.14),
  };
  const gumTone = uniform(g, -1, 1);
  const bg = uniform(g, 0.015, 0.06);
  return {
    seed, index, jaw, view, teeth,
    archDepth: uniform(g, 0.75, 1.0),
    archExponent: uniform(g, 1.7, 2.4),
    azimuth: g.normal() * 0.12,
    elevation: g.normal() * 0.08,
    roll: g.normal() * 0.04,
    zoom: uniform(g, 0.88, 1.02),
    panX: g.normal() * 0.02,
    panY: g.normal() * 0.02,
    lights,
    enamel: [uniform(g, 0.9, 0.96), uniform(g, 0.89, 0.94), uniform(g, 0.84, 0.9)],
    dentin: [uniform(g, 0.86, 0.92), uniform(g, 0.76, 0.82), uniform(g, 0.56, 0.64)],
    gum: [0.78 + 0.06 * gumTone, 0.36 + 0.05 * gumTone, 0.42 + 0.04 * gumTone],
    background: [bg, bg * 1.05, bg * 1.2],
  };
}

/** A polyline over the arch form, looked up by arc length from the midline (negative: patient's right). */
class ArchCurve {
  private readonly xs: number[] = [];
  private readonly ys: number[] = [];
  private readonly lengths: number[] = [];
  constructor(depth: number, exponent: number, halfLength: number) {
    const n = 400, xmax = 1.6;
    const pts: Array<[number, number]> = [];
    for (let i = 0; i <= n; i++) {
      const x = (xmax * i) / n;
      pts.push([x, depth * Math.pow(x, exponent)]);
    }
    let len = 0, lenAtOne = 0;
    const cum = [0];
    for (let i = 1; i <= n; i++) {
      len += Math.hypot(pts[i]![0] - pts[i - 1]![0], pts[i]![1] - pts[i - 1]![1]);
      cum.push(len);
      if (pts[i]![0] <= 1) lenAtOne = len;
    }
    const k = halfLength / lenAtOne; // x = 1 lands where the last molar ends
    for (let i = 0; i <= n; i++) {
      this.xs.push(pts[i]![0] * k);
      this.ys.push(pts[i]![1] * k);
      this.lengths.push(cum[i]! * k);
    }
  }
  /** Point and unit tangent (pointing away from the midline) at signed arc length s. */
  at(s: number): { point: Vec3; tangent: Vec3 } {
    const side = s < 0 ? -1 : 1, a = Math.abs(s);
    const L = this.lengths;
    let lo = 0, hi = L.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (L[mid]! <= a) lo = mid; else hi = mid;
    }
    const t = Math.min(1.5, (a - L[lo]!) / (L[hi]! - L[lo]! || 1));
    const x = this.xs[lo]! + (this.xs[hi]! - this.xs[lo]!) * t;
    const y = this.ys[lo]! + (this.ys[hi]! - this.ys[lo]!) * t;
    const tangent = normalize([(this.xs[hi]! - this.xs[lo]!) * side, this.ys[hi]! - this.ys[lo]!, 0]);
    return { point: [x * side, y, 0], tangent };
  }
}

interface PlacedTooth {
  spec: ToothSpec;
  center: number; // signed arc length of the tooth's centre
  halfWidth: number;
  halfDepth: number;
}

const GUM_MARGIN = 0.5, PAPILLA = 2.4, RIDGE = -0.6, GUM_SPREAD = 1.1, SHOULDER_DROP = 2, BASE_DEPTH = 5;

/** The jaw's mesh in world space: x toward the patient's left, y toward the back, z up. */
export function buildJaw(spec: SceneSpec): Mesh {
  // Lay the teeth along each side from the midline by arc length.
  const placed: PlacedTooth[] = [];
  let halfLength = 0;
  for (const side of [-1, 1] as const) {
    let s = 0.15;
    for (const t of spec.teeth.filter((t) => t.side === side).sort((a, b) => a.position - b.position)) {
      const shape = toothShape(spec.jaw, t.position, t.size);
      const half = shape.width / 2;
      placed.push({ spec: t, center: side * (s + half), halfWidth: half, halfDepth: shape.depth / 2 });
      s += 2 * half + t.gapAfter;
    }
    halfLength = Math.max(halfLength, s);
  }
  const arch = new ArchCurve(spec.archDepth, spec.archExponent, halfLength);
  const up: Vec3 = [0, 0, 1];
  const frameAt = (s: number) => {
    const { point, tangent } = arch.at(s);
    // outward = toward lips/cheek: tangent rotated in the plane, away from the arch's inside (+y)
    let outward = normalize(cross(tangent, up));
    if (outward[1] > 0 || (Math.abs(outward[1]) < 1e-9 && outward[0] * point[0] < 0)) outward = scale(outward, -1);
    return { point, tangent, outward };
  };

  const meshes: Mesh[] = [];
  for (const p of placed) {
    if (p.spec.missing) continue;
    const t = p.spec;
    const shape = toothShape(spec.jaw, t.position, t.size);
    const mesh = buildToothMesh(shape, t.fdi);
    const { point, tangent, outward } = frameAt(p.center);
    const local = mat3Mul(mat3Mul(rotationZ(t.rotation), rotationX(-t.labialTip)), rotationY(t.mesialTip));
    const m = mat3Mul(mat3FromColumns(tangent, outward, up), local);
    transformMesh(mesh, m, add(point, scale(outward, t.labialShift)));
    meshes.push(mesh);
  }

  // Gum: a closed cross-section loop swept along the arch. Its top follows the gum line:
  // low at each crown's middle, high papillae between crowns, a low ridge where a tooth is missing.
  const sorted = [...placed].sort((a, b) => a.center - b.center);
  const gumLine = (s: number): { height: number; halfDepth: number } => {
    let best = sorted[0]!, bestD = Infinity;
    for (const p of sorted) {
      const d = Math.abs(s - p.center) - p.halfWidth;
      if (d < bestD) { bestD = d; best = p; }
    }
    const u = Math.min(1, Math.abs(s - best.center) / best.halfWidth); // 0 at centre, 1 at the contact
    const toContact = Math.pow(u, 4);
    let height = best.spec.missing ? RIDGE + 0.8 * toContact : GUM_MARGIN + (PAPILLA - GUM_MARGIN) * toContact;
    if (Math.abs(s) > halfLength) height = GUM_MARGIN + (RIDGE - GUM_MARGIN) * Math.min(1, (Math.abs(s) - halfLength) / 2);
    return { height, halfDepth: best.halfDepth * 0.98 };
  };
  const along = 170;
  const sMax = halfLength + 2.5;
  // The cross-section, lingual bottom -> lingual wall -> rounded shoulder -> top plateau (under and
  // between the crowns) -> labial shoulder -> labial wall -> back along the flat base.
  // `h` is the gum line with its papillae (used at the top), `hs` the same smoothed along the arch
  // (used down the walls): the scallops belong round the teeth, not carved down the whole base.
  type Profile = (hd: number, h: number, hs: number) => [number, number];
  const profile: Profile[] = [];
  const shoulder = (side: -1 | 1, phi: number): Profile => (hd, h, hs) => {
    const w = Math.sqrt(Math.sin(phi));
    return [side * (hd + GUM_SPREAD * Math.sin(phi)), h * (1 - w) + hs * w - SHOULDER_DROP * (1 - Math.cos(phi))];
  };
  const wall = (side: -1 | 1, q: number): Profile => (hd, _h, hs) =>
    [side * (hd + GUM_SPREAD + 0.6 * q), hs - SHOULDER_DROP + (-BASE_DEPTH - hs + SHOULDER_DROP) * q];
  for (let k = 4; k >= 1; k--) profile.push(wall(-1, k / 4));
  for (let k = 6; k >= 0; k--) profile.push(shoulder(-1, (k / 6) * (Math.PI / 2)));
  for (let k = 1; k < 6; k++) profile.push((hd, h) => [-hd + (2 * hd * k) / 6, h]);
  for (let k = 0; k <= 6; k++) profile.push(shoulder(1, (k / 6) * (Math.PI / 2)));
  for (let k = 1; k <= 4; k++) profile.push(wall(1, k / 4));
  for (let k = 1; k < 4; k++) profile.push((hd) => [hd + GUM_SPREAD + 0.6 - (2 * (hd + GUM_SPREAD + 0.6) * k) / 4, -BASE_DEPTH]);
  const raw = Array.from({ length: along }, (_, j) => {
    const s = -sMax + (2 * sMax * j) / (along - 1);
    return { ...frameAt(s), ...gumLine(s) };
  });
  const window = Math.round(along / 12);
  const frames = raw.map((f, j) => {
    let sum = 0, depth = 0, n = 0;
    for (let i = Math.max(0, j - window); i <= Math.min(along - 1, j + window); i++, n++) {
      sum += raw[i]!.height;
      depth += raw[i]!.halfDepth;
    }
    return { ...f, smooth: sum / n, halfDepth: depth / n };
  });
  const gum = gridMesh(profile.length, along, true, PART_GUM, (i, j) => {
    const f = frames[j]!;
    const [off, z] = profile[i]!(f.halfDepth, f.height, f.smooth);
    const p = add(f.point, scale(f.outward, off));
    // attribute: height on the gum, 0 at the base .. 1 at the gum line (the shader reddens the margin)
    return [p[0], p[1], z, Math.min(1, Math.max(0, (z + BASE_DEPTH) / (f.height + BASE_DEPTH)))];
  });
  orientOutward(gum, [0, arch.at(halfLength * 0.5).point[1], -BASE_DEPTH * 3]);
  meshes.push(gum);

  // Ends of the horseshoe: flat caps so a side view never looks into the hollow sweep.
  for (const j of [0, along - 1]) {
    const f = frames[j]!;
    const ring = profile.map((pf) => {
      const [off, z] = pf(f.halfDepth, f.height, f.smooth);
      const p = add(f.point, scale(f.outward, off));
      return [p[0], p[1], z] as Vec3;
    });
    const c = ring.reduce((acc, p) => add(acc, scale(p, 1 / ring.length)), [0, 0, 0] as Vec3);
    const cap = gridMesh(ring.length, 2, true, PART_GUM, (i, r) => (r === 0 ? [...ring[i]!, 0] : [c[0], c[1], c[2], 0]));
    orientOutward(cap, add(c, scale(f.tangent, j === 0 ? 5 : -5)));
    meshes.push(cap);
  }

  if (spec.jaw === 'upper') {
    // Palate: a vault from the lingual gum slope to the middle of the arch, away from the teeth.
    const centreY = arch.at(halfLength * 0.55).point[1];
    const rows = 12;
    const palate = gridMesh(along, rows, false, PART_PALATE, (i, r) => {
      const f = frames[i]!;
      const [off, z0] = profile[4]!(f.halfDepth, f.height, f.smooth); // where the lingual wall meets the shoulder
      const edge = add(f.point, scale(f.outward, off));
      const q = r / (rows - 1);
      const target: Vec3 = [0, Math.max(edge[1], centreY * 0.9), -(BASE_DEPTH - 1)];
      const x = edge[0] + (target[0] - edge[0]) * q;
      const y = edge[1] + (target[1] - edge[1]) * q;
      const z = z0 + (target[2] - z0) * Math.sin((q * Math.PI) / 2);
      return [x, y, z, 0];
    });
    orientOutward(palate, [0, centreY, -40]); // its seen side faces the teeth
    meshes.push(palate);
  }

  const jaw = mergeMeshes(meshes);
  if (spec.jaw === 'upper') {
    // The upper jaw is the same construction with its teeth pointing down.
    transformMesh(jaw, [1, 0, 0, 0, 1, 0, 0, 0, -1], [0, 0, 0]);
  }
  return jaw;
}
